"""The console's files, served by the API itself: API Gateway → this function in AWS, the local
gateway → the same function locally. Public routes (the page signs in with a token it is given);
the files ship in the package (`workflows/console/`), so the Lambda asset carries them.

API Gateway delivers `/console/` to the `/console` resource with the slash kept in `path`: that
is the page. A bare `/console` is sent to `console/`, relative, so that a stage prefix (`/v1`)
stays in the browser's URL and the page's relative links resolve under it.
"""

import hashlib
from importlib import resources
from typing import Any

from workflows.api.problems import PROBLEM_CONTENT_TYPE, Problem
from workflows.api.resolver import ROUTES
from workflows.api.routes import ApiRoute
from workflows.kernel.settings import get_settings

STATIC = resources.files("workflows") / "console"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
# What may be served: the folder's own files, listed once (a request names one of them or
# nothing; no name from a request reaches the file system).
FILES = frozenset(entry.name for entry in STATIC.iterdir()
                  if entry.is_file() and entry.name[entry.name.rfind("."):] in CONTENT_TYPES)
PAGE = ROUTES.add(ApiRoute("GET", "/console", None))
ASSET = ROUTES.add(ApiRoute("GET", "/console/{asset}", None))
_INDEX_PATH = "/console/"
# Its own scripts and styles only, no referrer, no sniffing; `connect-src`: the API the console
# signs in to (its own origin, or one named on the sign-in form: a deployed API over https,
# another local instance).
_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self' https: http://127.0.0.1:* http://localhost:*; object-src 'none'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}")


def serves(route: ApiRoute) -> bool:
    return route in (PAGE, ASSET)


def resource_path(path: str) -> str:
    """The path the route table is matched with: `/console/` is the `/console` resource's, as
    API Gateway routes it (the one trailing slash the API accepts); any other path as it is."""
    return PAGE.path if path == _INDEX_PATH else path


def security_headers(frame_ancestors: str) -> dict[str, str]:
    """Framed only by `frame_ancestors` (Settings.console_frame_ancestors, checked there);
    X-Frame-Options for browsers without CSP, which can only say DENY or one origin: sent
    only when no one may frame it."""
    headers = {"Content-Security-Policy": _POLICY.format(frame_ancestors=frame_ancestors),
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return headers


def answer(event: dict[str, Any], frame_ancestors: str | None = None) -> dict[str, Any]:
    """The proxy result for a request the route table matched to PAGE or ASSET."""
    headers = security_headers(frame_ancestors if frame_ancestors is not None
                               else get_settings().console_frame_ancestors)
    path = event.get("path") or ""
    if path == PAGE.path:
        return _result(302, {**headers, "Location": "console/"}, "")
    name = "index.html" if path == _INDEX_PATH else path.removeprefix(_INDEX_PATH)
    if name not in FILES:
        body = Problem(title="Not Found", status=404, detail=f"no console file {name[:100]!r}")
        return _result(404, {**headers, "Content-Type": PROBLEM_CONTENT_TYPE},
                       body.model_dump_json(exclude_none=True))
    kind = CONTENT_TYPES[name[name.rfind("."):]]
    content = (STATIC / name).read_text(encoding="utf-8")
    # `no-cache` with an ETag: the browser asks each time (a deploy is seen at once) and a
    # file it has is a 304 without a body.
    tag = '"' + hashlib.sha256(content.encode()).hexdigest()[:32] + '"'
    cached = {**headers, "Content-Type": kind, "Cache-Control": "no-cache", "ETag": tag}
    if tag in _if_none_match(event):
        return _result(304, cached, "")
    return _result(200, cached, content)


def _if_none_match(event: dict[str, Any]) -> list[str]:
    value = next((v for k, v in (event.get("headers") or {}).items()
                  if k.lower() == "if-none-match"), "") or ""
    return [tag.strip().removeprefix("W/") for tag in value.split(",")]


def _result(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": headers, "multiValueHeaders": {}, "body": body,
            "isBase64Encoded": False}
