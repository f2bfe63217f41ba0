// Tenants: the operator's only page. List, create, suspend / resume, change a tier, and issue
// a token of a tenant (shown once, with a link that signs in as that tenant in another tab).

import { api, ApiError, pageAction, query } from "./session.js";
import { badge, empty, errorBox, h, replace, when } from "./dom.js";

// The API lists no tiers: these are the defaults, with any tier a listed tenant has. An
// unknown one is refused by the API (422), and its detail is shown.
const DEFAULT_TIERS = ["standard", "large"];
const TOKEN_ROLES = ["admin", "publisher", "reader"];
const PAGE_SIZE = 50;

export function tenantsPage(root) {
  const list = h("div", { class: "list" });
  const notice = h("div", { class: "notice", role: "status" });
  const tiers = h("datalist", { id: "tiers" });
  const more = h("button", { type: "button", class: "secondary more", hidden: true,
    onclick: () => loadMore() }, "More tenants");
  let items = [];
  let next = null;
  let shown = "";

  const act = pageAction(notice, () => reload());

  const create = h("form", { class: "filters create", onsubmit: (e) => {
    e.preventDefault();
    const form = e.target;
    const id = form.elements.id.value.trim();
    const tier = form.elements.tier.value.trim();
    act("POST", "/tenants", { id, limits: tier ? { tier } : undefined }, (tenant) => {
      form.reset();
      return `Created tenant ${tenant.id} (${tenant.limits.tier}).`;
    });
  } },
  h("label", {}, "Tenant id", h("input", { name: "id", required: true, maxlength: 64,
    placeholder: "acme" })),
  h("label", {}, "Tier", h("input", { name: "tier", list: "tiers", placeholder: "standard" })),
  h("button", { type: "submit" }, "Create tenant"));

  const issue = h("form", { class: "filters issue-token", onsubmit: (e) => {
    e.preventDefault();
    const form = e.target;
    const tenant = form.elements.tenant.value.trim();
    const roles = TOKEN_ROLES.filter((role) => form.elements[role].checked);
    const ttl = Number(form.elements.ttl.value);
    act("POST", `/tenants/${encodeURIComponent(tenant)}/tokens`,
      { roles, ttl_seconds: ttl || undefined }, (issued) => tokenNotice(tenant, roles, issued));
  } },
  h("label", {}, "Tenant", h("input", { name: "tenant", required: true, placeholder: "acme" })),
  h("fieldset", { class: "roles" }, h("legend", {}, "Roles"), TOKEN_ROLES.map((role) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: role,
      checked: role === "reader" }), role))),
  h("label", {}, "Valid for (s)", h("input", { name: "ttl", type: "number", min: 1,
    max: 604800, value: 3600 })),
  h("button", { type: "submit" }, "Issue token"));

  async function page(cursor) {
    return api("GET", `/tenants${query({ limit: PAGE_SIZE, cursor })}`);
  }

  /** The first pages again, as many as are shown (a refresh keeps what "More" loaded). */
  async function reload() {
    try {
      const wanted = Math.max(items.length, 1);
      const fresh = [];
      let cursor;
      do {
        const found = await page(cursor);
        fresh.push(...found.items);
        cursor = found.next_cursor;
      } while (cursor && fresh.length < wanted);
      items = fresh;
      next = cursor || null;
      render();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      shown = "";
      replace(list, errorBox(error));
    }
  }

  async function loadMore() {
    try {
      const found = await page(next);
      items = [...items, ...found.items];
      next = found.next_cursor;
      render();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(notice, errorBox(error));
    }
  }

  function controls(tenant) {
    const path = `/tenants/${encodeURIComponent(tenant.id)}`;
    const setStatus = (status, text) => h("button", { type: "button", class: `set-${status}`,
      onclick: () => act("PATCH", path, { status }, () => `${text}: ${tenant.id}.`) }, text);
    const tier = h("input", { name: "tier", list: "tiers", value: tenant.limits.tier,
      "aria-label": `Tier of ${tenant.id}`, class: "tier" });
    return [
      tenant.status === "active" ? setStatus("suspended", "Suspend") : setStatus("active", "Resume"),
      h("form", { class: "set-tier", onsubmit: (e) => {
        e.preventDefault();
        act("PATCH", path, { limits: { tier: tier.value.trim() } },
          (changed) => `${changed.id} is now on the ${changed.limits.tier} tier.`);
      } }, tier, h("button", { type: "submit", class: "secondary" }, "Set tier")),
      h("button", { type: "button", class: "secondary token-for", onclick: () => {
        issue.elements.tenant.value = tenant.id;
        issue.elements.tenant.focus();
      } }, "Token…"),
    ];
  }

  function limits(value) {
    const quota = value.monthly_quota === null || value.monthly_quota === undefined
      ? "no monthly quota" : `${value.monthly_quota.toLocaleString()} a month`;
    return h("div", {}, h("strong", {}, value.tier),
      h("div", { class: "muted" }, `${value.rate}/s, bursts of ${value.burst}, ${quota}`));
  }

  function render() {
    more.hidden = !next;
    replace(tiers, [...new Set([...DEFAULT_TIERS, ...items.map((t) => t.limits.tier)])]
      .map((tier) => h("option", { value: tier })));
    // Re-rendered only when something changed: a tier being typed in a row stays.
    const now = JSON.stringify(items);
    if (now === shown) return;
    shown = now;
    if (!items.length) {
      replace(list, empty("No tenants yet: create one above."));
      return;
    }
    replace(list, h("table", { class: "tenants" },
      h("thead", {}, h("tr", {}, ["Tenant", "Status", "Limits", "Created", "Updated", ""]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((tenant) => h("tr", { "data-tenant": tenant.id },
        h("td", {}, h("code", {}, tenant.id)), h("td", {}, badge(tenant.status)),
        h("td", {}, limits(tenant.limits)), h("td", {}, when(tenant.created_at)),
        h("td", {}, when(tenant.updated_at)), h("td", { class: "actions" }, controls(tenant)))))));
  }

  replace(root, h("h1", {}, "Tenants"), tiers,
    h("div", { class: "toolbar" }, create), h("div", { class: "toolbar" }, issue),
    notice, list, more);
  reload();
  return { refresh: reload, every: 5000 };
}

/** The issued token, shown only now: copy it, or open the console as that tenant. */
function tokenNotice(tenant, roles, issued) {
  const token = h("code", { class: "secret token" }, issued.token);
  const status = h("span", { class: "muted copy-status" });
  const copy = h("button", { type: "button", class: "secondary copy", onclick: async () => {
    try {
      await navigator.clipboard.writeText(issued.token);
      status.textContent = "Copied.";
    } catch {
      // No clipboard (permission refused, an insecure origin): select it for a manual copy.
      getSelection().selectAllChildren(token);
      status.textContent = "Selected: copy it with Ctrl+C (⌘C).";
    }
  } }, "Copy");
  const link = h("a", { class: "sign-in-as", target: "_blank", rel: "noopener noreferrer",
    href: `${location.pathname}#token=${encodeURIComponent(issued.token)}` },
  `Open the console as ${tenant}`);
  return h("div", { class: "issued" },
    h("p", {}, `A token of ${tenant} (${roles.join(", ")}), valid until ${when(issued.expires_at)}. `,
      "It is shown only now: keep it where its holder can read it and nobody else."),
    h("div", { class: "token-row" }, token, copy, status), link);
}
