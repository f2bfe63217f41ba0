// Events: the list with the API's filters and paging, and one event's whole story.

import { api, ApiError, query, session } from "./session.js";
import { badge, duration, empty, errorBox, h, replace, when } from "./dom.js";
import { drawPath } from "./graph.js";

const STATUSES = ["", "pending", "delivering", "parked", "delivered", "failed"];

export function eventsPage(root, navigate) {
  const filters = { type: "", status: "", since: "", until: "" };
  let pages = [];
  let next = null;
  const list = h("div", { class: "list" });
  const more = h("button", { type: "button", class: "secondary", hidden: true,
    onclick: () => load(true) }, "Older events");

  const field = (name, input) => h("label", {}, name, input);
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault(); read(); pages = []; next = null; load();
  } },
    field("Type", h("input", { name: "type", placeholder: "order.created" })),
    field("Status", h("select", { name: "status" }, STATUSES.map((v) =>
      h("option", { value: v }, v || "any")))),
    field("Since", h("input", { name: "since", type: "datetime-local" })),
    field("Until", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, "Filter"));
  const search = h("form", { class: "search", onsubmit: (e) => {
    e.preventDefault();
    const id = e.target.elements.id.value.trim();
    if (id) navigate(`#/events/${encodeURIComponent(id)}`);
  } }, h("input", { name: "id", placeholder: "Event id", "aria-label": "Event id" }),
  h("button", { type: "submit" }, "Open"));

  function read() {
    for (const name of Object.keys(filters)) {
      const value = form.elements[name].value;
      filters[name] = value && (name === "since" || name === "until")
        ? new Date(value).toISOString() : value;
    }
  }

  async function load(older = false) {
    try {
      const page = await api("GET", `/events${query({ ...filters, limit: 25,
        cursor: older ? next : undefined })}`);
      pages = older ? [...pages, page.items] : [page.items, ...pages.slice(1)];
      if (!older && pages.length === 1) next = page.next_cursor;
      if (older) next = page.next_cursor;
      render();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(list, errorBox(error));
    }
  }

  function render() {
    const items = pages.flat();
    more.hidden = !next;
    if (!items.length) {
      replace(list, empty("No events yet. Publish one with POST /events or on the bus."));
      return;
    }
    replace(list, h("table", { class: "events" },
      h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", {}, "Type"),
        h("th", {}, "Status"), h("th", {}, "Accepted"))),
      h("tbody", {}, items.map((event) => h("tr", { "data-event": event.id },
        h("td", {}, h("a", { href: `#/events/${encodeURIComponent(event.id)}` }, event.id)),
        h("td", {}, event.type), h("td", {}, badge(event.status)),
        h("td", {}, when(event.created_at)))))));
  }

  replace(root, h("h1", {}, "Events"), h("div", { class: "toolbar" }, form, search), list, more);
  load();
  // Only the newest page refreshes: older pages stay as they were loaded.
  return { refresh: () => load(), every: 2000 };
}

export function eventPage(root, eventId) {
  const head = h("div", {});
  const notifications = h("div", {});
  const notice = h("div", { class: "notice", role: "status" });
  const paths = new Map(); // execution ARN → its path, or a reason it has none
  const deadLetters = new Map(); // subscription id → dead letter of this event

  async function load() {
    let event;
    try {
      event = await api("GET", `/events/${encodeURIComponent(eventId)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(head, h("h1", {}, "Event ", h("code", {}, eventId)), errorBox(error));
      replace(notifications);
      return;
    }
    await Promise.all(event.notifications.map(async (n) => {
      await loadPath(n.execution_arn, n.status);
      if (n.status === "failed") await loadDeadLetter(n.subscription_id);
    }));
    render(event);
  }

  async function loadPath(arn, status) {
    const known = paths.get(arn);
    const settled = ["delivered", "failed"].includes(status);
    if (!arn || (known && (known.unavailable || (settled && known.status !== "RUNNING")))) return;
    try {
      paths.set(arn, await api("GET", `/local/executions/${encodeURIComponent(arn)}`));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // A deployed API has no local route: link to the Step Functions console instead.
      paths.set(arn, { unavailable: true, detail: error.status === 404 || error.status === 403
        ? null : error.message });
    }
  }

  async function loadDeadLetter(subscriptionId) {
    try {
      const page = await api("GET", `/dead-letters${query({ subscription_id: subscriptionId, limit: 100 })}`);
      const letter = page.items.find((item) => item.event_id === eventId);
      if (letter) deadLetters.set(subscriptionId, letter);
      else deadLetters.delete(subscriptionId);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
  }

  async function replay(subscriptionIds) {
    try {
      const result = await api("POST", `/events/${encodeURIComponent(eventId)}/replay`,
        subscriptionIds ? { subscription_ids: subscriptionIds } : {});
      replace(notice, `Replay started: ${result.executions.length} execution(s).`);
      await load();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(notice, errorBox(error));
    }
  }

  function render(event) {
    const canReplay = session.can("replay");
    replace(head,
      h("p", {}, h("a", { href: "#/events" }, "← Events")),
      h("h1", {}, "Event ", h("code", {}, event.id), " ", badge(event.status)),
      h("dl", { class: "facts" }, h("dt", {}, "Type"), h("dd", {}, event.type),
        h("dt", {}, "Accepted"), h("dd", {}, when(event.created_at))),
      canReplay && event.notifications.length ? h("button", { type: "button", class: "replay-all",
        onclick: () => replay() }, "Replay to all subscriptions") : null,
      notice,
      h("details", { class: "data", open: true }, h("summary", {}, "Data"),
        h("pre", {}, JSON.stringify(event.data, null, 2))));
    if (!event.notifications.length) {
      replace(notifications, empty("No subscription matched this event: nothing to deliver."));
      return;
    }
    replace(notifications, h("h2", {}, "Deliveries"),
      event.notifications.map((n) => notificationCard(n, canReplay)));
  }

  function notificationCard(n, canReplay) {
    const path = paths.get(n.execution_arn);
    const known = new Set(["subscription_id", "status", "attempts", "execution_arn",
      "next_attempt_at", "next_attempt_reason"]);
    const extra = Object.entries(n).filter(([key, value]) => !known.has(key) && value !== null);
    return h("section", { class: "notification", "data-subscription": n.subscription_id },
      h("header", {}, h("h3", {}, "Subscription ", h("code", {}, n.subscription_id)), " ",
        badge(n.status),
        canReplay ? h("button", { type: "button", class: "replay",
          onclick: () => replay([n.subscription_id]) }, "Replay") : null),
      extra.length ? h("dl", { class: "facts" }, extra.flatMap(([key, value]) => [
        h("dt", {}, key.replace(/_/g, " ")),
        h("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value))])) : null,
      h("ol", { class: "story" }, story(n, path, deadLetters.get(n.subscription_id))),
      h("div", { class: "path-box" }, pathView(n.execution_arn, path)));
  }

  replace(root, head, notifications);
  load();
  return { refresh: load, every: 1500 };
}

/** Attempts (from the API) and, locally, the waits and hand-offs of the execution, in time order. */
function story(n, path, deadLetter) {
  const entries = n.attempts.map((attempt, index) => ({
    at: attempt.at, kind: attempt.status_code && attempt.status_code < 300 ? "ok" : "fail",
    text: [`Attempt ${index + 1}`, attempt.status_code ? `HTTP ${attempt.status_code}` : "no response",
      duration(attempt.latency_ms), attempt.error].filter(Boolean).join(" · "),
  }));
  const definition = path && path.state_machine ? path.state_machine.definition : null;
  for (const step of (path && path.steps) || []) {
    const state = definition ? definition.States[step.state] || {} : {};
    const waited = step.exited_at ? new Date(step.exited_at) - new Date(step.entered_at) : null;
    if (state.Type === "Wait") {
      entries.push({ at: step.entered_at, kind: "wait", text: `Waited ${waited === null
        ? "(still waiting)" : duration(waited)} · ${waitReason(step.state, state)}` });
    } else if (/startExecution/.test(state.Resource || "")) {
      entries.push({ at: step.entered_at, kind: "handoff",
        text: `Handed off to another workflow (${step.state})` });
    } else if (/park/i.test(step.state)) {
      entries.push({ at: step.entered_at, kind: "wait",
        text: `Parked behind an open circuit breaker (${step.state})` });
    }
  }
  if (deadLetter) {
    entries.push({ at: deadLetter.failed_at, kind: "dead",
      text: `Dead-lettered: ${deadLetter.error}${deadLetter.cause ? ` · ${deadLetter.cause}` : ""}` });
  }
  entries.sort((a, b) => new Date(a.at) - new Date(b.at));
  const next = nextAttempt(n);
  if (next) entries.push(next);  // last: it has not happened yet
  if (!entries.length) return [h("li", { class: "pending" }, "No attempt yet.")];
  return entries.map((entry) => h("li", { class: entry.kind },
    entry.at ? h("time", { datetime: entry.at }, when(entry.at)) : null, " ", entry.text));
}

const WAITING_FOR = {
  backoff: "backoff: the retry schedule's next step",
  retry_after: "the receiver's Retry-After",
  rate_limited: "the endpoint's rate limit: its turn in a later second",
  parked: "parked behind an open circuit breaker: not before the endpoint's next probe",
  disabled: "parked: the subscription was disabled after sustained failure; re-enabling it delivers",
};

/** While it waits (from the API): when the next attempt is due, and why. */
function nextAttempt(n) {
  if (!n.next_attempt_reason) return null;
  const why = WAITING_FOR[n.next_attempt_reason] || n.next_attempt_reason;
  if (!n.next_attempt_at) return { at: null, kind: "next", text: `Next attempt not scheduled · ${why}` };
  const left = new Date(n.next_attempt_at) - Date.now();
  return { at: n.next_attempt_at, kind: "next",
    text: `Next attempt due ${left > 0 ? `in ${duration(left)}` : "now"} · ${why}` };
}

function waitReason(name, state) {
  const said = `${name} ${state.Comment || ""}`;
  if (/retry-?after/i.test(said)) return "the receiver's Retry-After";
  if (/rate/i.test(said)) return "rate limited";
  if (/breaker|park|probe/i.test(said)) return "parked behind an open circuit breaker";
  if (/backoff/i.test(said)) return "backoff before the next attempt";
  return name;
}

function consoleLink(arn) {
  const region = arn.split(":")[3];
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}` +
    `#/v2/executions/details/${encodeURIComponent(arn)}`;
}

function pathView(arn, path) {
  if (!arn) return empty("No execution yet.");
  if (!path) return empty("Loading the path…");
  if (path.unavailable) {
    return h("p", {}, path.detail || "The path is drawn by the local runtime only. ",
      h("a", { href: consoleLink(arn), target: "_blank", rel: "noopener" },
        "Open the execution in the Step Functions console"));
  }
  return h("figure", {}, drawPath(path.state_machine.definition, path.steps, path.status === "RUNNING"),
    h("figcaption", {}, `${path.state_machine.name}: ${path.status}, `,
      h("code", { class: "arn" }, arn)));
}
