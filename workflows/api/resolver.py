"""Powertools' REST resolver and the one route table: `route` registers a function with both,
with the permission it needs and what it documents. The route modules register on import.
"""

import re
import typing
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel

from workflows import __version__
from workflows.api.problems import (
    problem,
    problem_response,
)
from workflows.api.routes import ApiRoute, RouteTable
from workflows.auth.roles import ROLE_PERMISSIONS, Permission, Principal
from workflows.kernel.observability import logger

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
PUBLIC: list[dict[str, list[str]]] = [{}]

app = APIGatewayRestResolver(enable_validation=True)
app.configure_openapi(
    title="Stepwire", version=__version__,
    description="Webhook notifications: publish events, manage subscriptions, trace and replay "
                "deliveries. Authenticate with `Authorization: Bearer <JWT>`.",
    security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")}, security=SECURITY)

COMMON = {401: problem_response("Missing, invalid or expired token"),
           403: problem_response("The token's roles lack the permission"),
           429: problem_response("Too many requests for this tenant")}
NOT_FOUND = {404: problem_response("No such id in this tenant")}
BAD_CURSOR = {400: problem_response("Tampered, foreign or malformed cursor")}
BAD_BODY = {400: problem_response("The body is not valid JSON"),
             413: problem_response("The body or the event's data is above the limit")}

ROUTES = RouteTable()

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(max_length=4096, description="next_cursor of the "
                                     "previous page, unchanged")]


def route(method: str, path: str, permission: Permission | None,
          responses: dict[int, Any] | None = None, *, summary: str, description: str = "",
          shows_secret: bool = False, **options: Any) -> Callable:
    """Register `func` with the router and its permission in the one route table. Every
    operation says what it does (`summary`) and what a user can do with it (`description`);
    `shows_secret`: its answer is never stored (`Cache-Control: no-store`)."""
    documented = {**(COMMON if permission else {}), **(responses or {})}

    def register(func: Callable) -> Callable:
        ROUTES.add(ApiRoute(method, re.sub(r"<(\w+)>", r"{\1}", path), permission,
                            body=_body_model(func), shows_secret=shows_secret))
        # Given `responses`, Powertools documents only those: add the success response.
        returned = typing.get_type_hints(func).get("return")
        success = options.get("status_code", 200)
        if returned is not None and success not in documented:
            documented[success] = {"description": "Success", "content": {
                "application/json": {"model": returned}}}
        who = "\n\nNo token needed." if permission is None else "\n\nRoles: " + ", ".join(
            sorted(r.value for r, allowed in ROLE_PERMISSIONS.items() if permission in allowed))
        return app.route(path, method=method, responses=documented or None,
                         security=SECURITY if permission else PUBLIC, summary=summary,
                         description=description + who, **options)(func)

    return register


def _body_model(func: Callable) -> type[BaseModel] | None:
    """The pydantic model of the parameter declared as the JSON body, if any."""
    for hint in typing.get_type_hints(func, include_extras=True).values():
        if typing.get_origin(hint) is Annotated and any(
                isinstance(extra, Body) for extra in hint.__metadata__):
            inner = hint.__origin__
            candidates = typing.get_args(inner) or (inner,)
            return next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
    return None


def principal() -> Principal:
    return app.context["principal"]


def tenant() -> str:
    """The tenant the caller acts for (the operator acts for none: 403)."""
    return principal().tenant_id


def _the_router_resolved_the_checked_route(app: APIGatewayRestResolver,
                                           next_middleware: Callable) -> Response:
    """Fail closed should the router ever resolve another route than the one checked."""
    resolved, checked = app.context.get("_route"), app.context.get("route")
    if checked is None or resolved is None or (resolved.method, resolved.openapi_path) != (
            checked.method, checked.path):
        logger.error("the router resolved another route than the one checked")
        return problem(404, f"no route {app.current_event.http_method} "
                            f"{app.current_event.path}")
    return next_middleware(app)


app.use([_the_router_resolved_the_checked_route])
