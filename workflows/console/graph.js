// The path of one execution through its state machine: the ASL definition drawn as layers
// (breadth-first from StartAt), the visited states marked with how often they were entered.

import { s } from "./dom.js";

const BOX_W = 168, BOX_H = 34, GAP_X = 26, GAP_Y = 44, PAD = 16;

function transitions(state) {
  const targets = [];
  if (state.Next) targets.push(state.Next);
  if (state.Default) targets.push(state.Default);
  for (const choice of state.Choices || []) if (choice.Next) targets.push(choice.Next);
  for (const handler of state.Catch || []) if (handler.Next) targets.push(handler.Next);
  return [...new Set(targets)];
}

function layers(definition) {
  // Longest-path layering of the graph without its back edges (found by a depth-first walk
  // from StartAt): every forward transition points down, loops point back up.
  const names = Object.keys(definition.States);
  const back = new Set();
  const state = new Map(); // name → "open" | "done"
  const walk = (name) => {
    state.set(name, "open");
    for (const next of transitions(definition.States[name] || {})) {
      if (!definition.States[next]) continue;
      if (state.get(next) === "open") back.add(`${name}>${next}`);
      else if (!state.has(next)) walk(next);
    }
    state.set(name, "done");
  };
  walk(definition.StartAt);
  for (const name of names) if (!state.has(name)) walk(name);
  const depth = new Map();
  const depthOf = (name) => {
    if (depth.has(name)) return depth.get(name);
    depth.set(name, 0);
    let d = 0;
    for (const [from, s] of Object.entries(definition.States)) {
      if (transitions(s).includes(name) && !back.has(`${from}>${name}`)) d = Math.max(d, depthOf(from) + 1);
    }
    depth.set(name, d);
    return d;
  };
  const rows = [];
  for (const name of names) (rows[depthOf(name)] ||= []).push(name);
  return rows.filter(Boolean);
}

/**
 * steps: [{state, entered_at, exited_at, error}] in order; running: whether the execution runs.
 * Returns an <svg> whose state boxes carry data-state and, when visited, data-visits.
 */
export function drawPath(definition, steps, running) {
  const visits = new Map();
  for (const step of steps) visits.set(step.state, (visits.get(step.state) || 0) + 1);
  const last = steps[steps.length - 1];
  const failed = new Set(steps.filter((step) => step.error).map((step) => step.state));
  const rows = layers(definition);
  const widest = Math.max(...rows.map((row) => row.length));
  const width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X;
  const height = PAD * 2 + rows.length * BOX_H + (rows.length - 1) * GAP_Y;
  const at = new Map();
  rows.forEach((row, y) => {
    const rowWidth = row.length * BOX_W + (row.length - 1) * GAP_X;
    row.forEach((name, x) => at.set(name, {
      x: (width - rowWidth) / 2 + x * (BOX_W + GAP_X), y: PAD + y * (BOX_H + GAP_Y), row: y,
    }));
  });

  const svg = s("svg", {
    class: "path", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": "The execution's path through the state machine",
  }, s("defs", {}, s("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: "auto-start-reverse",
  }, s("path", { d: "M 0 0 L 10 5 L 0 10 z" }))));

  const taken = new Set();
  for (let i = 1; i < steps.length; i += 1) taken.add(`${steps[i - 1].state}>${steps[i].state}`);
  for (const [name, state] of Object.entries(definition.States)) {
    const from = at.get(name);
    for (const next of transitions(state)) {
      const to = at.get(next);
      if (!to) continue;
      const x1 = from.x + BOX_W / 2, x2 = to.x + BOX_W / 2;
      let d;
      if (to.row > from.row) {
        d = `M ${x1} ${from.y + BOX_H} L ${x2} ${to.y}`;
      } else {
        // Back (or sideways) edge: around the right of both boxes.
        const side = Math.max(from.x, to.x) + BOX_W + 10 + 6 * (from.row - to.row);
        d = `M ${from.x + BOX_W} ${from.y + BOX_H / 2} C ${side} ${from.y + BOX_H / 2}, ` +
          `${side} ${to.y + BOX_H / 2}, ${to.x + BOX_W} ${to.y + BOX_H / 2}`;
      }
      const used = taken.has(`${name}>${next}`);
      svg.append(s("path", { d, class: used ? "edge taken" : "edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const [name, state] of Object.entries(definition.States)) {
    const { x, y } = at.get(name);
    const count = visits.get(name) || 0;
    const classes = ["state", `type-${state.Type}`];
    if (count) classes.push("visited");
    if (failed.has(name)) classes.push("failed");
    if (running && last && last.state === name && !last.exited_at) classes.push("current");
    const group = s("g", {
      class: classes.join(" "), "data-state": name, "data-visits": count || undefined,
    }, s("title", {}, `${name} (${state.Type})${state.Comment ? `: ${state.Comment}` : ""}`),
    s("rect", { x, y, width: BOX_W, height: BOX_H, rx: state.Type === "Choice" ? 14 : 5 }),
    s("text", { x: x + BOX_W / 2, y: y + BOX_H / 2 + 4, "text-anchor": "middle" }, name));
    if (count > 1) {
      group.append(s("text", { x: x + BOX_W - 6, y: y + 12, class: "visits",
        "text-anchor": "end" }, `×${count}`));
    }
    svg.append(group);
  }
  return svg;
}
