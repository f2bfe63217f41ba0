"""Between the wire and the proxy event: the request's headers, target and body length as sent,
and the gateway's own answers (problem+json) and the API's proxy result as HTTP."""

import base64
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from workflows.api.request_body import header_value


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def headers_of(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers as sent (names in Title-Case: WSGI keeps no original case)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key
        else:
            continue
        headers["-".join(part.capitalize() for part in name.split("_"))] = value
    return headers


def target_of(environ: dict[str, Any]) -> str:
    """The raw request target (not the decoded PATH_INFO: `%2F` must stay itself). A leading
    `//` is folded into `/`, as Python's http.server did before."""
    target = environ.get("REQUEST_URI") or (
        quote(environ.get("PATH_INFO", "/"))
        + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""))
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    return target


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def path_and_query(target: str) -> tuple[str, str]:
    """The request target's path, exactly as sent (`//x` is a path, not a host), and query."""
    if not target.startswith("/"):  # absolute form: http://host/path?query
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path.partition("#")[0], query


def body_length(headers: Any, limit: int) -> tuple[int, GatewayResponse | None]:
    """The body's length from Content-Length, or the answer that refuses the request. (The
    server dechunks a chunked body within its own limit and passes its length here.)"""
    value = (header_value(headers, "content-length") or "0").strip()
    if not value.isdigit():  # negative, signed or not a number: never read "until close"
        return 0, problem(400, f"invalid Content-Length: {value!r}")
    length = int(value)
    if length > limit:
        return 0, problem(413, f"the request body is {length} bytes; the limit is "
                                f"{limit} bytes")
    return length, None


def problem(status: int, detail: str, *, authenticate: bool = False,
             extra: dict[str, str] | None = None) -> GatewayResponse:
    """API Gateway's own answers, with gateway responses set to problem+json."""
    body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase,
                       "status": status, "detail": detail}).encode()
    headers = {"Content-Type": "application/problem+json", **(extra or {})}
    if authenticate:
        headers["WWW-Authenticate"] = "Bearer"
    return GatewayResponse(status, headers, body)


def from_proxy_result(result: dict[str, Any], request_id: str) -> GatewayResponse:
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if values:
            headers[name] = ", ".join(str(v) for v in values)
    headers["x-amzn-RequestId"] = request_id
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return GatewayResponse(int(result.get("statusCode", 502)), headers, raw)
