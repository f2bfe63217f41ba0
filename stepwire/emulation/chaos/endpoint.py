"""The rules on the AWS endpoint: a WSGI middleware in front of moto's app that answers the
chaos API and applies the rules to every AWS call that arrives over HTTP.

    GET    /_stepwire/chaos/faults    the rules
    POST   /_stepwire/chaos/faults    add the rules of the body (PATCH: the same)
    PUT    /_stepwire/chaos/faults    replace every rule by those of the body
    DELETE /_stepwire/chaos/faults    remove the rules of the body (no body: every rule)
    GET    /_stepwire/chaos/effects   {"latency": ms}, added to every call
    POST   /_stepwire/chaos/effects   set it (PUT: the same)

Each answers the state it leaves, as JSON; a body that is not JSON or a rule that is not
valid is a 400 with a sentence that says what is wrong.
"""

import io
import json
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from stepwire.emulation.chaos.rules import FAULTS, Faults, InvalidRules
from stepwire.emulation.chaos.wire import call_of, error_answer, lower_headers

PREFIX = "/_stepwire/chaos/"
_MAX_BODY = 1 << 20


def chaos_middleware(app: Callable, faults: Faults = FAULTS) -> Callable:
    def middleware(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            status, body = _chaos_api(faults, environ, path[len(PREFIX):].rstrip("/"))
            return _answer(start_response, status, {"Content-Type": "application/json"},
                           json.dumps(body).encode())
        if not faults.active:
            return app(environ, start_response)
        call = _call(environ)
        if call is None:
            return app(environ, start_response)
        decision = faults.decide(call.service, call.region, call.operation)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.error is None:
            return app(environ, start_response)
        status, headers, body = error_answer(call, *decision.error)
        return _answer(start_response, status, headers, body)

    return middleware


def _call(environ: dict[str, Any]) -> Any:
    headers = lower_headers((key[5:].replace("_", "-"), value) for key, value in
                            environ.items() if key.startswith("HTTP_"))
    form = b""
    if "x-amz-target" not in headers and "x-www-form-urlencoded" in \
            environ.get("CONTENT_TYPE", ""):
        # A query-protocol call names its operation in the body: read it, and put it back.
        form = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(form)
    return call_of(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                   headers, form, environ.get("QUERY_STRING", ""))


def _chaos_api(faults: Faults, environ: dict[str, Any], resource: str) -> tuple[int, Any]:
    method = environ.get("REQUEST_METHOD", "GET")
    if resource not in ("faults", "effects"):
        return 404, {"error": "NotFound", "message": f"no {PREFIX}{resource}: the chaos API "
                     f"is {PREFIX}faults and {PREFIX}effects"}
    allowed = ("GET", "POST", "PATCH", "PUT", "DELETE") if resource == "faults" \
        else ("GET", "POST", "PUT")
    if method not in allowed:
        return 405, {"error": "MethodNotAllowed",
                     "message": f"{PREFIX}{resource} takes {', '.join(allowed)}"}
    try:
        if method == "GET":
            return 200, _state(faults, resource)
        body = _body(environ)
        if resource == "effects":
            if not isinstance(body, dict) or set(body) - {"latency"}:
                raise InvalidRules('the body is {"latency": milliseconds}')
            faults.set_latency_ms(body.get("latency", 0))
        elif method in ("POST", "PATCH"):
            faults.add(body)
        elif method == "PUT":
            faults.replace(body)
        elif body is None:
            faults.replace([])
        else:
            faults.remove(body)
    except InvalidRules as exc:
        return 400, {"error": "InvalidRules", "message": str(exc)}
    except _BadBody as exc:
        return exc.status, {"error": "BadRequest", "message": str(exc)}
    return 200, _state(faults, resource)


def _state(faults: Faults, resource: str) -> Any:
    return faults.rules() if resource == "faults" else {"latency": faults.latency_ms()}


class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body(environ: dict[str, Any]) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _BadBody(400, "Content-Length is not a number") from None
    if length > _MAX_BODY:
        raise _BadBody(413, f"a body of at most {_MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw.strip():
        if environ.get("REQUEST_METHOD") == "DELETE":
            return None
        raise _BadBody(400, "the body is a JSON list of rules")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BadBody(400, f"the body is not JSON: {exc}") from None


def _answer(start_response: Callable, status: int, headers: dict[str, str],
            body: bytes) -> list[bytes]:
    headers = {**headers, "Content-Length": str(len(body))}
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    start_response(f"{status} {reason}", list(headers.items()))
    return [body]
