// Health: the delivery metrics of the last hour, per minute.

import { api, ApiError } from "./session.js";
import { duration, errorBox, h, replace } from "./dom.js";
import { lineChart } from "./charts.js";

export function healthPage(root) {
  const body = h("div", {});

  async function load() {
    let metrics;
    try {
      metrics = await api("GET", "/local/metrics");
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 403) {
        replace(body, h("p", { class: "needs-admin" }, "The metrics are the whole instance's " +
          "(every tenant's activity): the Health page needs a token with the admin role."));
      } else {
        replace(body, error.status === 404
          ? h("p", {}, "This API is not the local runtime: the same metrics (namespace " +
            "Stepwire) are on the CloudWatch dashboard \"Stepwire\" of the deployment.")
          : errorBox(error));
      }
      return;
    }
    render(metrics);
  }

  function render(metrics) {
    const hour = metrics.hour;
    const minutes = metrics.minutes;
    const times = minutes.map((m) => m.at);
    const pick = (path) => minutes.map((m) => path.split(".").reduce((v, k) => (v == null ? null : v[k]), m));
    const percent = (v) => (v === null || v === undefined ? "—" : `${v}%`);
    const tile = (label, value) => h("div", { class: "tile" }, h("div", { class: "value" }, value),
      h("div", { class: "label" }, label));
    replace(body,
      h("div", { class: "tiles" },
        tile("delivery success (delivered ÷ delivered + dead-lettered)", percent(hour.delivery_success_rate)),
        tile("attempts answered 2xx", percent(hour.attempt_success_rate)),
        tile("first attempt succeeded", percent(hour.first_attempt_success_rate)),
        tile("attempt latency p99", duration(hour.attempt_latency_ms.p99) || "—"),
        tile("accepted → delivered p99", duration(hour.end_to_end_latency_ms.p99) || "—"),
        tile("events accepted", hour.events_accepted),
        tile("delivered", hour.delivered), tile("dead-lettered", hour.dead_lettered),
        tile("parked backlog", hour.parked_backlog ?? "—")),
      h("div", { class: "charts" },
        lineChart("Success rate", times, [
          { label: "deliveries", values: pick("delivery_success_rate") },
          { label: "attempts (2xx)", values: pick("attempt_success_rate") }], { unit: "%", max: 100 }),
        lineChart("Attempt latency", times, [
          { label: "p50", values: pick("attempt_latency_ms.p50") },
          { label: "p90", values: pick("attempt_latency_ms.p90") },
          { label: "p99", values: pick("attempt_latency_ms.p99") }], { unit: " ms" }),
        lineChart("Accepted → delivered", times, [
          { label: "p50", values: pick("end_to_end_latency_ms.p50") },
          { label: "p99", values: pick("end_to_end_latency_ms.p99") }], { unit: " ms" }),
        lineChart("Per minute", times, [
          { label: "events accepted", values: pick("events_accepted") },
          { label: "delivered", values: pick("delivered") },
          { label: "dead-lettered", values: pick("dead_lettered") }]),
        lineChart("Backlog and endpoint health", times, [
          { label: "parked", values: pick("parked_backlog") },
          { label: "breaker opened", values: pick("breaker_opened") },
          { label: "rate-limited waits", values: pick("rate_limited_waits") }])),
      h("p", { class: "muted" }, `Attempts in the last hour by outcome: ${Object.entries(
        hour.attempts_by_outcome).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}.`));
  }

  replace(root, h("h1", {}, "Health (last hour)"), body);
  load();
  return { refresh: load, every: 5000 };
}
