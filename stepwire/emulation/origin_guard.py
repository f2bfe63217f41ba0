"""The AWS endpoint answers AWS clients only, never a web page.

moto's server answers CORS for every origin and serves whatever `Host` a request names, so
without this a page the developer opens (or one reached by DNS rebinding) could read every key
and secret. This WSGI middleware, outermost on the endpoint, refuses with a 403 in the AWS JSON
error shape:

- any request carrying `Origin` (a browser's cross-origin fetch or form) or a `Sec-Fetch-Site`
  of `cross-site` / `same-site` (a browser's request from another page, even without `Origin`);
- any CORS preflight (`OPTIONS`): no AWS client sends one;
- unless the endpoint is exposed (`--expose-aws-endpoint`), any `Host` other than the
  endpoint's own loopback name and port (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`).

Whatever passes, moto's `Access-Control-*` response headers are removed: no browser is ever
told it may read an answer.
"""

from collections.abc import Callable, Iterable
from typing import Any

from stepwire.emulation.aws_endpoint import aws_json_error

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_BROWSER_SITES = ("cross-site", "same-site")
ERROR_CODE = "AccessDeniedException"


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values a client of a loopback server on `port` sends."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def refusal(environ: dict[str, Any], hosts: frozenset[str] | None) -> str | None:
    """Why the request is refused, or None. `hosts`: the allowed `Host` values (None: any)."""
    if environ.get("REQUEST_METHOD") == "OPTIONS":
        return ("CORS preflight refused: the local AWS endpoint answers AWS clients, never a "
                "web page (it hands out every key and secret)")
    if environ.get("HTTP_ORIGIN") is not None:
        return ("cross-origin request refused: a request with an Origin header comes from a "
                "web page; the local AWS endpoint answers AWS clients only")
    if environ.get("HTTP_SEC_FETCH_SITE", "").lower() in _BROWSER_SITES:
        return ("request from another web page refused (Sec-Fetch-Site): the local AWS "
                "endpoint answers AWS clients only")
    if hosts is not None:
        host = environ.get("HTTP_HOST", "").lower()
        if host not in hosts:
            return (f"Host {host or '(none)'!r} refused: the local AWS endpoint answers only "
                    f"to {', '.join(sorted(hosts))} (a name that resolves to this machine "
                    "is how DNS rebinding reaches it); use --expose-aws-endpoint to serve "
                    "other names")
    return None


def origin_guard(app: Callable, *, port: int, check_host: bool = True) -> Callable:
    """`app` behind the guard; `check_host` False when the endpoint is exposed on purpose."""
    hosts = loopback_hosts(port) if check_host else None

    def middleware(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        reason = refusal(environ, hosts)
        if reason is not None:
            return aws_json_error(start_response, "403 Forbidden", ERROR_CODE, reason)

        def without_cors(status: str, headers: list[tuple[str, str]],
                         exc_info: Any = None) -> Callable:
            kept = [(name, value) for name, value in headers
                    if not name.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return app(environ, without_cors)

    return middleware
