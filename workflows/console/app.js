// The console: sign-in, navigation and the refresh loop. Every page uses the public API only
// (plus two local-only routes of `stepwire local`, where they exist).

import { claims, session, SessionExpired } from "./session.js";
import { h, replace } from "./dom.js";
import { eventPage, eventsPage } from "./events.js";
import { deadLettersPage, subscriptionsPage } from "./admin.js";
import { healthPage } from "./health.js";
import { tenantsPage } from "./tenants.js";

const root = document.getElementById("app");
let current = null; // { refresh, every, timer }
let expiry = null;

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut(message) {
  session.signOut();
  navigate(`#/sign-in${message ? `?${new URLSearchParams({ message })}` : ""}`);
}

const EXPIRED = "Your token has expired or was refused: sign in again.";

function signInPage(message) {
  const form = h("form", { class: "sign-in", onsubmit: (e) => {
    e.preventDefault();
    const token = e.target.elements.token.value.trim();
    const payload = claims(token.replace(/^Bearer\s+/i, ""));
    if (!payload) {
      show("That is not a JWT (three base64url parts separated by dots).");
      return;
    }
    if (typeof payload.exp === "number" && payload.exp < Date.now() / 1000) {
      show(EXPIRED);
      return;
    }
    session.signIn(token, e.target.elements.api.value.trim());
    navigate(home());
  } },
  h("label", {}, "Token", h("textarea", { name: "token", rows: 4, required: true,
    placeholder: "stepwire token --tenant acme --roles admin,publisher" })),
  h("label", {}, "API", h("input", { name: "api", value: session.apiBase, type: "url" })),
  h("button", { type: "submit" }, "Sign in"));
  const problem = h("div", { class: "error", role: "alert", hidden: !message }, message || "");
  const show = (text) => { problem.textContent = text; problem.hidden = false; };
  return h("main", { class: "narrow" }, h("h1", {}, "Stepwire console"),
    h("p", {}, "Sign in with a token: ", h("code", {}, "stepwire token --tenant T --roles reader"),
      " prints one for the local runtime (", h("code", {}, "--operator"), " the operator's, ",
      h("code", {}, "--stack NAME"), " for a deployed stack). It is kept for this browser tab only."),
    problem, form);
}

function linkSignInPage(token) {
  const payload = claims(token.replace(/^Bearer\s+/i, ""));
  if (!payload) return signInPage("The link's token is not a JWT: sign in with a token.");
  if (typeof payload.exp === "number" && payload.exp < Date.now() / 1000) return signInPage(EXPIRED);
  const roles = (Array.isArray(payload.roles) ? payload.roles : []).join(", ") || "no roles";
  const operator = roles === "operator";
  const form = h("form", { class: "confirm-sign-in", onsubmit: (e) => {
    e.preventDefault();
    session.signIn(token);
    navigate(home());
  } },
  operator ? h("p", { class: "question" }, "Sign in as the platform's operator?")
    : h("p", { class: "question" }, "Sign in as tenant ", h("strong", { class: "tenant" },
      String(payload.tenant || "(none)")), ` (${roles})?`),
  h("p", {}, "A link asks to sign you in. Continue only if you asked for it: everything you do ",
    operator ? "here will be done as the operator of every tenant." : "here will be done in that tenant."),
  h("div", { class: "actions" },
    h("button", { type: "submit", class: "confirm" }, "Sign in"),
    h("button", { type: "button", class: "secondary cancel",
      onclick: () => navigate("#/sign-in") }, "Cancel")));
  return h("main", { class: "narrow" }, h("h1", {}, "Stepwire console"), form);
}

function layout(page) {
  const roles = [...session.roles].join(", ");
  const link = (hash, text) => h("a", { href: hash,
    class: location.hash.startsWith(hash) ? "active" : undefined }, text);
  return [
    h("header", { class: "top" }, h("strong", {}, "Stepwire"),
      // The operator acts on no tenant's data: its only page is the tenants'.
      session.isOperator ? h("nav", {}, link("#/tenants", "Tenants"))
        : h("nav", {}, link("#/events", "Events"), link("#/dead-letters", "Dead letters"),
          link("#/subscriptions", "Subscriptions"), link("#/health", "Health")),
      h("span", { class: "who" }, session.isOperator ? "operator" : `${session.tenant} · ${roles}`),
      h("button", { type: "button", class: "secondary sign-out",
        onclick: () => signOut() }, "Sign out")),
    h("main", {}, page),
  ];
}

/** Where a signed-in session starts: the operator's one page, or a tenant's events. */
function home() {
  return session.isOperator ? "#/tenants" : "#/events";
}

function stop() {
  if (current && current.timer) clearTimeout(current.timer);
  current = null;
}

function schedule(page) {
  current = page;
  const tick = async () => {
    if (current !== page) return;
    if (document.visibilityState === "visible") {
      try { await page.refresh(); } catch (error) { handle(error); return; }
    }
    if (current === page) page.timer = setTimeout(tick, page.every);
  };
  page.timer = setTimeout(tick, page.every);
}

function handle(error) {
  if (error instanceof SessionExpired) signOut(EXPIRED);
  else console.error(error);
}

function route() {
  stop();
  const hash = location.hash || home();
  const tokenInHash = /^#token=(.+)$/.exec(hash);
  if (tokenInHash) {
    // A link signs in only once the user has seen and confirmed whose tenant it is: otherwise
    // anyone's link could sign a victim into the sender's tenant.
    history.replaceState(null, "", `${location.pathname}#/sign-in`); // the token leaves the URL
    replace(root, linkSignInPage(decodeURIComponent(tokenInHash[1])));
    return;
  }
  const [path, search] = hash.slice(1).split("?");
  if (path === "/sign-in" || !session.token) {
    replace(root, signInPage(new URLSearchParams(search || "").get("message")));
    return;
  }
  const left = session.secondsLeft;
  if (left !== null && left <= 0) {
    signOut(EXPIRED);
    return;
  }
  clearTimeout(expiry);
  if (left !== null) expiry = setTimeout(() => signOut(EXPIRED), Math.min(left, 2 ** 31 / 1000) * 1000);
  if (session.isOperator !== (path === "/tenants")) {
    // What a role may not do is not offered: the operator's one page, or a tenant's pages.
    history.replaceState(null, "", `${location.pathname}${home()}`);
    route();
    return;
  }
  const container = h("div", { class: "page" });
  replace(root, ...layout(container));
  const event = /^\/events\/(.+)$/.exec(path);
  let page;
  if (session.isOperator) page = tenantsPage(container);
  else if (event) page = eventPage(container, decodeURIComponent(event[1]));
  else if (path === "/dead-letters") page = deadLettersPage(container);
  else if (path === "/subscriptions") page = subscriptionsPage(container);
  else if (path === "/health") page = healthPage(container);
  else page = eventsPage(container, navigate);
  schedule(page);
}

// A page's first load runs outside the refresh loop: its SessionExpired lands here.
window.addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof SessionExpired) {
    e.preventDefault();
    signOut(EXPIRED);
  }
});
window.addEventListener("hashchange", route);
route();
