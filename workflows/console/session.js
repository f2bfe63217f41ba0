// The signed-in session (token and API base, kept for this browser tab only) and the API client.

import { errorBox, replace } from "./dom.js";

const TOKEN = "stepwire.token";
const API_BASE = "stepwire.api";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class SessionExpired extends Error {}

/** The token's claims, read (not verified: the API verifies every call). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

/** The API that serves this page: its URL up to `/console/`, so a deployed stage's prefix
 * (`/v1`) is kept. */
function servedFrom() {
  return location.origin + location.pathname.replace(/\/console(\/[^/]*)?$/, "");
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get apiBase() { return sessionStorage.getItem(API_BASE) || servedFrom(); },
  get claims() { return this.token ? claims(this.token) : null; },
  get roles() { return new Set((this.claims || {}).roles || []); },
  get tenant() { return (this.claims || {}).tenant || ""; },
  /** The platform's operator: manages tenants, acts on no tenant's data. */
  get isOperator() { return this.roles.has("operator"); },
  /** Seconds until the token expires (negative: expired), or null when it has no exp. */
  get secondsLeft() {
    const exp = (this.claims || {}).exp;
    return typeof exp === "number" ? exp - Date.now() / 1000 : null;
  },
  can(action) {
    const roles = this.roles;
    if (roles.has("admin")) return true;
    if (action === "replay") return roles.has("publisher");
    return action === "read" && (roles.has("reader") || roles.has("publisher"));
  },
  signIn(token, apiBase) {
    sessionStorage.setItem(TOKEN, token.trim().replace(/^Bearer\s+/i, ""));
    if (apiBase) sessionStorage.setItem(API_BASE, apiBase.replace(/\/+$/, ""));
    else sessionStorage.removeItem(API_BASE);
  },
  signOut() { sessionStorage.removeItem(TOKEN); },
};

/** One API call. 401 → SessionExpired; any other error → ApiError with the problem's detail. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(session.apiBase + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `The API at ${session.apiBase} cannot be reached (${error.message}).`);
  }
  if (response.status === 401) throw new SessionExpired();
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch { payload = null; }
  if (!response.ok) {
    const detail = (payload && (payload.detail || payload.message)) ||
      `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail);
  }
  return payload;
}

/** A page's action: `act(method, path, body, done)` calls the API, puts `done(result)` (or the
 * API's refusal) in `notice`, and reloads the page after a success. */
export function pageAction(notice, reload) {
  return async function act(method, path, body, done) {
    try {
      const result = await api(method, path, body);
      replace(notice, done(result));
      await reload();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(notice, errorBox(error));
    }
  };
}

/** A query string from the non-empty fields of an object. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
