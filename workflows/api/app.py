"""The HTTP API's entry: every request checked against the one route table, then resolved.

Each route declares the permission it needs; `handle` checks it against the principal that
the authorizer put in the request context before the body is even validated (so a role
without the permission gets 403, not a validation error). Tenant isolation: every use case
is called with the principal's tenant, so another tenant's id is simply not found (404).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response

# The route modules register their routes, and `errors` its answers, with the resolver.
from workflows.api import (  # noqa: F401
    console_routes,
    dead_letter_routes,
    errors,
    event_routes,
    public_routes,
    request_body,
    subscription_routes,
    tenant_routes,
    token_routes,
)
from workflows.api.problems import problem
from workflows.api.resolver import ROUTES, app
from workflows.api.routes import ApiRoute
from workflows.auth.roles import Forbidden, Principal, Unauthorized
from workflows.kernel.observability import logger

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Match the route exactly, check its permission, resolve, audit-log every mutating call.

    The permission comes from the route table's exact match, before the body is validated (so
    a role without it gets 403, not a validation error); a path that matches no route is
    refused here, whatever the router would make of it."""
    method, path = event.get("httpMethod", ""), event.get("path", "")
    who: Principal | None = None
    found = ROUTES.find(method, console_routes.resource_path(path))
    if found is None:
        result = response_to_proxy(_no_such_route(method, path))
    else:
        matched, _ = found
        try:
            if matched.permission is not None:  # not public
                who = Principal.from_context(
                    (event.get("requestContext") or {}).get("authorizer"))
                who.require(matched.permission)
        except (Unauthorized, Forbidden) as exc:
            result = response_to_proxy(problem(
                401 if isinstance(exc, Unauthorized) else 403, exc.detail,
                headers={"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized)
                else None))
        else:  # the console's files are not the resolver's JSON operations
            result = console_routes.answer(event) if console_routes.serves(matched) \
                else _resolve(event, context, matched, who)
    if method in MUTATING:
        logger.info("audit", extra={"audit": {
            "principal": who.sub if who else None, "tenant": who.tenant if who else None,
            "operator": bool(who and who.is_operator),
            "action": f"{method} {path}", "target": event.get("pathParameters") or {},
            "status": result.get("statusCode"),
            "request_id": (event.get("requestContext") or {}).get("requestId")}})
    return result


def _resolve(event: dict[str, Any], context: Any, matched: ApiRoute,
             who: Principal | None) -> dict[str, Any]:
    refused = request_body.refusal(event, takes_body=matched.body is not None)
    if refused is not None:
        return response_to_proxy(refused)
    app.append_context(principal=who, route=matched)
    try:
        result = app.resolve(event, context)
    finally:
        app.clear_context()
    if matched.shows_secret:  # nothing between the API and its caller may keep the secret
        result["multiValueHeaders"] = {**(result.get("multiValueHeaders") or {}),
                                       "Cache-Control": ["no-store"]}
    return result


def _no_such_route(method: str, path: str) -> Response:
    allowed = ROUTES.methods_of(path)
    if allowed:
        return problem(405, f"{method} is not allowed on {path}",
                       headers={"Allow": ", ".join(sorted(allowed))})
    hint = " (paths have no trailing slash)" if path.endswith("/") and path != "/" else ""
    return problem(404, f"no route {method} {path}{hint}")


def response_to_proxy(response: Response) -> dict[str, Any]:
    return {"statusCode": response.status_code, "body": response.body, "isBase64Encoded": False,
            "headers": {"Content-Type": response.headers.get("Content-Type", ""),
                        **{k: v for k, v in response.headers.items() if isinstance(v, str)}},
            "multiValueHeaders": {}}
