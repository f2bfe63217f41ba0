// Dead letters with redrive, and subscriptions with endpoint health and their controls.

import { api, ApiError, pageAction, query, session } from "./session.js";
import { badge, empty, errorBox, h, replace, when } from "./dom.js";

export function deadLettersPage(root) {
  const filters = { since: "", subscription_id: "" };
  const list = h("div", { class: "list" });
  const notice = h("div", { class: "notice", role: "status" });
  let items = [];
  let next = null;

  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const since = form.elements.since.value;
    filters.since = since ? new Date(since).toISOString() : "";
    filters.subscription_id = form.elements.subscription_id.value.trim();
    load();
  } },
  h("label", {}, "Since", h("input", { name: "since", type: "datetime-local" })),
  h("label", {}, "Subscription", h("input", { name: "subscription_id", placeholder: "sub_…" })),
  h("button", { type: "submit" }, "Filter"));
  const redrive = session.can("redrive") ? h("button", { type: "button", class: "redrive",
    onclick: async () => {
      try {
        const result = await api("POST", "/dead-letters/redrive", {
          since: filters.since || undefined, subscription_id: filters.subscription_id || undefined });
        replace(notice, `Redriven: ${result.redriven} notification(s) started again.`);
        await load();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        replace(notice, errorBox(error));
      }
    } }, "Redrive these") : null;
  const more = h("button", { type: "button", class: "secondary", hidden: true,
    onclick: () => load(true) }, "More");

  async function load(older = false) {
    try {
      const page = await api("GET", `/dead-letters${query({ ...filters, limit: 50,
        cursor: older ? next : undefined })}`);
      items = older ? [...items, ...page.items] : page.items;
      next = page.next_cursor;
      render();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(list, errorBox(error));
    }
  }

  function render() {
    more.hidden = !next;
    if (redrive) redrive.disabled = !items.length;
    if (!items.length) {
      replace(list, empty("No dead letters: every notification was delivered or is still trying."));
      return;
    }
    replace(list, h("table", { class: "dead-letters" },
      h("thead", {}, h("tr", {}, ["Event", "Subscription", "Error", "Cause", "Failed"].map((t) =>
        h("th", {}, t)))),
      h("tbody", {}, items.map((item) => h("tr", { "data-event": item.event_id },
        h("td", {}, h("a", { href: `#/events/${encodeURIComponent(item.event_id)}` }, item.event_id)),
        h("td", {}, h("code", {}, item.subscription_id)), h("td", {}, item.error),
        h("td", {}, item.cause || ""), h("td", {}, when(item.failed_at)))))));
  }

  replace(root, h("h1", {}, "Dead letters"), h("div", { class: "toolbar" }, form, redrive),
    notice, list, more);
  load();
  return { refresh: () => load(), every: 3000 };
}

export function subscriptionsPage(root) {
  const list = h("div", { class: "list" });
  const notice = h("div", { class: "notice", role: "status" });
  const admin = session.can("manage");

  const act = pageAction(notice, () => load());

  const create = admin ? h("form", { class: "filters create", onsubmit: (e) => {
    e.preventDefault();
    const url = e.target.elements.url.value.trim();
    const types = e.target.elements.types.value.split(",").map((t) => t.trim()).filter(Boolean);
    act("POST", "/subscriptions", { url, event_types: types.length ? types : ["*"] },
      (created) => secretNotice("Subscribed", created.id, created.secret));
  } }, h("label", {}, "Endpoint URL", h("input", { name: "url", type: "url", required: true,
    placeholder: "https://example.com/webhooks" })),
  h("label", {}, "Event types", h("input", { name: "types", placeholder: "order.*, invoice.paid" })),
  h("button", { type: "submit" }, "Subscribe")) : null;

  async function load() {
    try {
      const page = await api("GET", `/subscriptions${query({ limit: 100 })}`);
      // The list has no health: read each subscription (health is on GET /subscriptions/{id}).
      const detailed = await Promise.all(page.items.map((item) =>
        api("GET", `/subscriptions/${encodeURIComponent(item.id)}`).catch(() => item)));
      render(detailed);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(list, errorBox(error));
    }
  }

  function controls(sub) {
    if (!admin) return null;
    const path = `/subscriptions/${encodeURIComponent(sub.id)}`;
    const setStatus = (status, text) => h("button", { type: "button", class: `set-${status}`,
      onclick: () => act("PATCH", path, { status }, () => `${text}: ${sub.id}`) }, text);
    return [
      sub.status === "active" ? setStatus("paused", "Pause") : null,
      sub.status === "paused" ? setStatus("active", "Resume") : null,
      sub.status === "disabled" ? setStatus("active", "Re-enable") : null,
      h("button", { type: "button", class: "rotate", onclick: () => act("POST",
        `${path}/rotate-secret`, undefined, (r) => secretNotice("Secret rotated", sub.id, r.secret)) },
      "Rotate secret"),
    ];
  }

  function render(items) {
    if (!items.length) {
      replace(list, empty(admin ? "No subscriptions yet: add an endpoint above."
        : "No subscriptions yet."));
      return;
    }
    replace(list, h("table", { class: "subscriptions" },
      h("thead", {}, h("tr", {}, ["Endpoint", "Event types", "Status", "Rate limit", "Health", ""]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((sub) => h("tr", { "data-subscription": sub.id },
        h("td", {}, h("div", {}, sub.url), h("code", { class: "muted" }, sub.id),
          sub.description ? h("div", { class: "muted" }, sub.description) : null),
        h("td", {}, sub.event_types.join(", ")), h("td", {}, badge(sub.status)),
        h("td", {}, !("rate_limit" in sub) ? "—" : sub.rate_limit ? `${sub.rate_limit}/s` : "none"),
        h("td", {}, health(sub.health)), h("td", { class: "actions" }, controls(sub)))))));
  }

  replace(root, h("h1", {}, "Subscriptions"), create, notice, list);
  load();
  return { refresh: load, every: 5000 };
}

function secretNotice(text, id, secret) {
  return h("div", {}, `${text}: ${id}. The signing secret is shown only now: `,
    h("code", { class: "secret" }, secret));
}

/** Endpoint health, whatever fields the API gives (breaker, failure streak, parked, …). */
function health(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const labels = { breaker: "breaker", failure_streak: "failure streak", parked: "parked",
    last_error: "last error", last_failure_at: "last failure", disabled_reason: "disabled because",
    disabled_at: "disabled at" };
  const rows = Object.entries(value).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return h("dl", { class: "health" }, rows.flatMap(([key, v]) => [
    h("dt", {}, labels[key] || key.replace(/_/g, " ")),
    h("dd", {}, key === "breaker" ? badge(v) : key.endsWith("_at") ? when(v)
      : typeof v === "object" ? JSON.stringify(v) : String(v))]));
}
