"""The local API Gateway: HTTP in, the REST proxy event AWS would build, the same handlers.

Per request, as API Gateway (REST API, Lambda proxy integration, TOKEN authorizer) does:
size limit (413) → route match → for a protected route: bearer token present (401), the
authorizer Lambda called with the TOKEN event (an exception is 401, a Deny is 403), the usage
plan of the API key it names as `usageIdentifierKey` (none: 403; a token bucket per key: 429
with Retry-After; `stepwire/gateway/usage_plans.py`) → the API Lambda with the proxy event
whose requestContext.authorizer carries {tenant, roles, sub, principalId}. The authorizer's
result is not cached (API Gateway caches it per token for a configurable TTL; 0 here).
"""

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import waitress

from stepwire.gateway.connections import CLEANUP_INTERVAL, IDLE_TIMEOUT, guard_connections
from stepwire.gateway.http_wire import (
    GatewayResponse,
    body_length,
    from_proxy_result,
    headers_of,
    path_and_query,
    phrase,
    problem,
    target_of,
)
from stepwire.gateway.usage_plans import (
    DEFAULT_RATE_LIMIT,
    RateLimit,
    TokenBucket,
    UsagePlanLimits,
)
from stepwire.host.lambda_host import LambdaContext
from workflows.api.request_body import header_value
from workflows.api.routes import RouteTable
from workflows.kernel.payload_limits import MAX_REQUEST_BYTES

Handler = Callable[[dict[str, Any], Any], Any]
# Local-only pages and the console's Host check (stepwire/gateway/console_routes.py): (method,
# path, headers, principal_of) → an answer, or None when the API is to answer.
Pages = Callable[[str, str, dict[str, str], Callable[[str | None], dict | None]],
                 "GatewayResponse | None"]

ACCOUNT_ID = "123456789012"
API_ID = "stepwirelocal"
STAGE = "local"
REGION = "us-east-1"
# The HTTP server: threads that run requests (the handlers run one at a time anyway, as one
# Lambda environment each), how many connections may wait to be accepted and be open at once,
# and a body size past which waitress refuses before reading (smaller excess bodies get the
# gateway's own 413, as problem+json).
SERVER_THREADS = 8
LISTEN_BACKLOG = 1024
CONNECTION_LIMIT = 512
SERVER_BODY_LIMIT = 4 * MAX_REQUEST_BYTES


class Gateway:
    """In front of the API's route table. Callable in process with `call`."""

    def __init__(self, api: Handler, authorizer: Handler, routes: RouteTable,
                 *, usage_plans: UsagePlanLimits | None = None,
                 rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
                 max_body_bytes: int = MAX_REQUEST_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._authorizer = authorizer
        self._routes = routes
        # The plans of API Gateway to read; without them every key has `rate_limit`.
        self._usage_plans = usage_plans
        self._rate_limit = rate_limit
        self._max_body = max_body_bytes
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}  # (key, plan) → bucket
        self._buckets_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # One execution environment per function, as Lambda gives each one event at a time:
        # the handlers (Powertools' resolver keeps the current event on the app) are not
        # made for concurrent calls in one process.
        self._api_lock = threading.Lock()
        self._authorizer_lock = threading.Lock()
        self._pages: list[Pages] = []

    def mount(self, pages: Pages) -> None:
        """Serve local-only pages (and check the console's Host) before the API's routes."""
        self._pages.append(pages)

    def principal_of(self, authorization: str | None) -> dict | None:
        """The authorizer's context for a bearer token, None when it is refused (a token of
        an unregistered or suspended tenant too: its context carries the refusal)."""
        allowed, context, _ = self._authorize(authorization, "GET", "/") if authorization \
            else (False, None, "")
        return context if allowed and context and not context.get("refusal") else None

    # --- one request -----------------------------------------------------------------------

    def call(self, method: str, target: str, headers: dict[str, str] | None = None,
             body: bytes | str | None = None, source_ip: str = "127.0.0.1") -> GatewayResponse:
        headers = dict(headers or {})
        raw = body.encode() if isinstance(body, str) else (body or b"")
        if len(raw) > self._max_body:
            return problem(413, f"the request body is {len(raw)} bytes; the limit is "
                                 f"{self._max_body} bytes")
        path, query = path_and_query(target)
        for pages in self._pages:
            if (answer := pages(method, path, headers, self.principal_of)) is not None:
                return answer
        resource, path_parameters, public = self._match(method, path)
        request_id = str(uuid.uuid4())
        authorizer_context: dict[str, Any] | None = None
        if not public:
            token = header_value(headers, "authorization")
            if not token:
                return problem(401, "missing Authorization header", authenticate=True)
            allowed, authorizer_context, usage_key = self._authorize(token, method, path)
            if authorizer_context is None:
                return problem(401, "the bearer token is missing, invalid or expired",
                                authenticate=True)
            if not allowed:
                return problem(403, "the authorizer denied this request")
            if (throttled := self._throttle(usage_key)) is not None:
                return throttled
        event = self._proxy_event(method, path, query, headers, raw, resource,
                                  path_parameters, request_id, source_ip, authorizer_context)
        with self._api_lock:
            result = self._api(event, LambdaContext(function_name="stepwire-api",
                                                    invoked_function_arn=_function_arn("api")))
        return from_proxy_result(result, request_id)

    def _match(self, method: str, path: str) -> tuple[str, dict[str, str] | None, bool]:
        # As API Gateway (REST) routes: one trailing slash is not part of the resource
        # (`/console/` is `/console`'s), while the proxy event's `path` keeps it.
        found = self._routes.find(method, path[:-1] if path.endswith("/") and path != "/"
                                  else path)
        if found is not None:
            route, parameters = found
            return route.path, parameters or None, route.public
        # Anything else goes to the protected catch-all proxy resource.
        return "/{proxy+}", {"proxy": path.lstrip("/")}, False

    def _authorize(self, token: str, method: str, path: str
                   ) -> tuple[bool, dict | None, str]:
        """(allowed, the context the API gets, the API key named as usageIdentifierKey)"""
        event = {"type": "TOKEN", "authorizationToken": token,
                 "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/"
                              f"{method}{path}"}
        try:
            with self._authorizer_lock:
                result = self._authorizer(event, LambdaContext(
                    function_name="stepwire-authorizer",
                    invoked_function_arn=_function_arn("authorizer")))
        except Exception:  # any authorizer failure is a 401, as in AWS
            return False, None, ""
        statements = (result.get("policyDocument") or {}).get("Statement") or []
        allowed = any(s.get("Effect") == "Allow" for s in statements) and not any(
            s.get("Effect") == "Deny" for s in statements)
        context = {k: v for k, v in (result.get("context") or {}).items()}
        context["principalId"] = result.get("principalId")
        return allowed, context, str(result.get("usageIdentifierKey") or "")

    def _throttle(self, usage_key: str) -> GatewayResponse | None:
        """403 for a key in no usage plan, 429 past its plan's bucket, else None."""
        plan = self._usage_plans.plan_of(usage_key) if self._usage_plans is not None \
            and usage_key else None
        if self._usage_plans is not None and plan is None:
            return problem(403, "this tenant has no API usage key yet: its key is in no usage "
                                "plan (API Gateway's INVALID_API_KEY); an operator applies its "
                                "limits with PATCH /tenants/{id} {\"limits\": {\"tier\": ...}}")
        limit = plan.limit if plan is not None else self._rate_limit
        with self._buckets_lock:
            bucket = self._buckets.get(slot := (usage_key, plan.id if plan else ""))
            if bucket is None:
                bucket = self._buckets[slot] = TokenBucket(limit, self._clock)
        wait = bucket.follow(limit).take()
        if wait <= 0:
            return None
        return problem(429, f"too many requests: this token's usage plan allows {limit.rate:g} "
                            f"requests/s with bursts of {limit.burst}",
                       extra={"Retry-After": str(max(1, int(wait + 0.999)))})

    @staticmethod
    def _proxy_event(method: str, path: str, query: str, headers: dict[str, str], body: bytes,
                     resource: str, path_parameters: dict[str, str] | None, request_id: str,
                     source_ip: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        pairs = parse_qsl(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in pairs:
            multi_query.setdefault(name, []).append(value)
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers.items():
            multi_headers.setdefault(name, []).append(value)
        try:
            text, encoded = body.decode(), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now = time.time()
        context: dict[str, Any] = {
            "accountId": ACCOUNT_ID, "apiId": API_ID, "stage": STAGE, "protocol": "HTTP/1.1",
            "resourceId": resource, "resourcePath": resource, "httpMethod": method,
            "path": f"/{STAGE}{path}", "requestId": request_id,
            "extendedRequestId": request_id, "domainName": headers.get("Host", "localhost"),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": header_value(headers, "user-agent")},
        }
        if authorizer is not None:
            context["authorizer"] = authorizer
        return {
            "resource": resource, "path": path, "httpMethod": method,
            "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()}
            or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters, "stageVariables": None,
            "requestContext": context,
            "body": text if body else None, "isBase64Encoded": encoded,
        }

    # --- the HTTP server -------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        """The gateway as a WSGI application (waitress serves it)."""
        headers = headers_of(environ)
        length, refused = body_length(headers, self._max_body)
        if refused is not None:
            response = refused
        else:
            body = environ["wsgi.input"].read(length) if length else b""
            try:
                response = self.call(environ["REQUEST_METHOD"], target_of(environ), headers,
                                     body, source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"))
            except Exception:  # the 502 API Gateway gives
                response = problem(502, "the API handler failed")
        outgoing = [(name, value) for name, value in response.headers.items()
                    if name.lower() not in ("content-length", "connection")]
        outgoing.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {phrase(response.status)}", outgoing)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body]

    def start(self, host: str, port: int) -> "Gateway":
        """Serve on host:port with waitress: a listen backlog and a connection limit sized for
        bursts (a burst is answered, 202 or 429, never reset). Raises OSError if the port is
        taken."""
        # Its "Task queue depth is N" warnings name no cause or remedy; requests that wait are
        # answered all the same, and the banner's backlog line tells what the engine waits on.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server = waitress.create_server(
            self.wsgi, host=host, port=port, threads=SERVER_THREADS, backlog=LISTEN_BACKLOG,
            connection_limit=CONNECTION_LIMIT, channel_timeout=IDLE_TIMEOUT,
            cleanup_interval=CLEANUP_INTERVAL, ident="stepwire-local",
            max_request_body_size=SERVER_BODY_LIMIT, clear_untrusted_proxy_headers=True)
        # Slow or idle connections closed, a per-client cap (stepwire/gateway/connections.py).
        guard_connections(self._server)
        self._thread = threading.Thread(target=self._server.run, name="stepwire-api-gateway",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:stepwire-{name}"
