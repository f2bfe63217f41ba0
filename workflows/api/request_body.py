"""What the API checks of a request body before any parser reads it.

API Gateway passes up to 10 MB, any bytes and any content type through to the function: the
size, the encoding, the content type and the nesting depth are checked here, so that bad input
gets a clear 4xx (never a 500, never a 202 for an event that cannot be stored).
"""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from workflows.api.problems import problem
from workflows.kernel.payload_limits import (
    MAX_DATA_DEPTH,
    MAX_REQUEST_BYTES,
    text_nests_deeper_than,
)

APPLICATION_JSON = "application/json"
# The body is an object around the event's data: one level more than the data may use.
MAX_BODY_DEPTH = MAX_DATA_DEPTH + 1


def refusal(event: dict[str, Any], takes_body: bool) -> Response | None:
    """The problem to answer instead of handling the request, or None when the body is fine."""
    body = event.get("body")
    if takes_body:
        refused = _content_type_refusal(event, has_body=bool(body))
        if refused is not None:
            return refused
    if not body:
        return None
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return problem(400, "the request body is not valid base64")
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_REQUEST_BYTES:
        return problem(413, f"the request body is {len(raw)} bytes; the limit is "
                            f"{MAX_REQUEST_BYTES} bytes")
    if not takes_body:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return problem(400, f"the request body is not valid UTF-8 (byte {exc.start})")
    if text_nests_deeper_than(text, MAX_BODY_DEPTH):
        return problem(400, f"the request body nests deeper than {MAX_BODY_DEPTH} levels "
                            f"(an event's data may nest {MAX_DATA_DEPTH})")
    if event.get("isBase64Encoded"):
        # Checked and decoded: hand the router the text it parses as JSON.
        event["body"], event["isBase64Encoded"] = text, False
    return None


def _content_type_refusal(event: dict[str, Any], has_body: bool) -> Response | None:
    """A body must be sent as JSON (any case, `+json` too); a Content-Type that is not JSON is
    refused even on an empty body. The router matches the media type case-sensitively, so an
    accepted one is handed on as plain `application/json`."""
    content_type = header_value(event.get("headers"), "content-type")
    if content_type is None and not has_body:
        return None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return problem(415, "the request body must be JSON: send Content-Type: "
                            f"application/json (got {content_type or 'no Content-Type'})",
                       headers={"Accept": "application/json"})
    for headers in (event.get("headers") or {}, event.get("multiValueHeaders") or {}):
        for name in [k for k in headers if k.lower() == "content-type"]:
            headers[name] = [APPLICATION_JSON] if isinstance(headers[name], list) \
                else APPLICATION_JSON
    return None


def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value by its lower-case name (HTTP header names ignore case)."""
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)
