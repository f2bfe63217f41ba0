// Line charts in SVG: one value per minute, gaps where a minute has no value.

import { h, s } from "./dom.js";

const W = 520, H = 170, LEFT = 62, RIGHT = 10, TOP = 10, BOTTOM = 24;

/** series: [{label, values: [number|null]}], times: [epoch seconds] of the same length. */
export function lineChart(title, times, series, { unit = "", max } = {}) {
  const all = series.flatMap((line) => line.values).filter((v) => v !== null && v !== undefined);
  const top = max ?? Math.max(1, ...all) * 1.1;
  const x = (i) => LEFT + (i * (W - LEFT - RIGHT)) / Math.max(1, times.length - 1);
  const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - v / top);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": title });
  for (const tick of [0, 0.5, 1]) {
    const value = top * tick;
    svg.append(s("line", { x1: LEFT, x2: W - RIGHT, y1: y(value), y2: y(value), class: "grid" }),
      s("text", { x: LEFT - 4, y: y(value) + 4, "text-anchor": "end", class: "axis" },
        `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)}${unit}`));
  }
  const label = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (times.length) {
    svg.append(s("text", { x: LEFT, y: H - 6, class: "axis" }, label(times[0])),
      s("text", { x: W - RIGHT, y: H - 6, class: "axis", "text-anchor": "end" },
        label(times[times.length - 1])));
  }
  series.forEach((line, index) => {
    let d = "";
    let pen = false;
    line.values.forEach((value, i) => {
      if (value === null || value === undefined) { pen = false; return; }
      d += `${pen ? "L" : "M"} ${x(i).toFixed(1)} ${y(value).toFixed(1)} `;
      pen = true;
    });
    svg.append(s("path", { d: d || "M 0 0", class: `line series-${index}` }));
    // A lone point in a minute shows as a dot.
    line.values.forEach((value, i) => {
      const alone = value !== null && value !== undefined &&
        (line.values[i - 1] ?? null) === null && (line.values[i + 1] ?? null) === null;
      if (alone) svg.append(s("circle", { cx: x(i), cy: y(value), r: 2.5, class: `dot series-${index}` }));
    });
  });
  const legend = h("div", { class: "legend" }, series.map((line, index) =>
    h("span", { class: `key series-${index}` }, line.label)));
  return h("figure", { class: "chart-box" }, h("figcaption", {}, title), svg, legend);
}
