"""The HTTP API: Powertools' REST resolver, every route of the contract.

Each route declares the permission it needs; `handle` checks it against the principal that
the authorizer put in the request context before the body is even validated (so a role
without the permission gets 403, not a validation error). Tenant isolation: every use case
is called with the principal's tenant, so another tenant's id is simply not found (404).
"""

import re
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html
from pydantic import BaseModel

from workflows import __version__, wiring
from workflows.api import request_body
from workflows.api.problems import (
    FieldProblem,
    patch_schema,
    problem,
    problem_response,
    to_json,
    validation_problem,
)
from workflows.api.routes import ApiRoute, RouteTable
from workflows.auth.revocations import Revocation, RevocationRequest
from workflows.auth.tokens import ROLE_PERMISSIONS, Forbidden, Permission, Principal, Unauthorized
from workflows.kernel import aws
from workflows.kernel.errors import InvalidTarget, NotFound
from workflows.kernel.observability import logger
from workflows.kernel.settings import get_settings
from workflows.operations import dead_letters, events, subscriptions
from workflows.operations.cursor import InvalidCursor
from workflows.operations.idempotency import IdempotencyKeyInProgress, IdempotencyKeyReused

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY = [{"bearerAuth": []}]
PUBLIC = [{}]

app = APIGatewayRestResolver(enable_validation=True)
app.configure_openapi(
    title="Stepwire", version=__version__,
    description="Webhook notifications: publish events, manage subscriptions, trace and replay "
                "deliveries. Authenticate with `Authorization: Bearer <JWT>`.",
    security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")}, security=SECURITY)

_COMMON = {401: problem_response("Missing, invalid or expired token"),
           403: problem_response("The token's roles lack the permission"),
           429: problem_response("Too many requests for this tenant")}
_NOT_FOUND = {404: problem_response("No such id in this tenant")}
_BAD_CURSOR = {400: problem_response("Tampered, foreign or malformed cursor")}
_BAD_BODY = {400: problem_response("The body is not valid JSON"),
             413: problem_response("The body or the event's data is above the limit")}

ROUTES = RouteTable()

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(max_length=4096, description="next_cursor of the "
                                     "previous page, unchanged")]


def route(method: str, path: str, permission: Permission | None,
          responses: dict[int, Any] | None = None, *, summary: str, description: str = "",
          **options: Any) -> Callable:
    """Register `func` with the router and its permission in the one route table. Every
    operation says what it does (`summary`) and what a user can do with it (`description`)."""
    documented = {**(_COMMON if permission else {}), **(responses or {})}

    def register(func: Callable) -> Callable:
        ROUTES.add(ApiRoute(method, re.sub(r"<(\w+)>", r"{\1}", path), permission,
                            body=_body_model(func)))
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


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Match the route exactly, check its permission, resolve, audit-log every mutating call.

    The permission comes from the route table's exact match, before the body is validated (so
    a role without it gets 403, not a validation error); a path that matches no route is
    refused here, whatever the router would make of it."""
    method, path = event.get("httpMethod", ""), event.get("path", "")
    who: Principal | None = None
    found = ROUTES.find(method, path)
    if found is None:
        result = response_to_proxy(_no_such_route(method, path))
    else:
        matched, _ = found
        try:
            if not matched.public:
                who = Principal.from_context(
                    (event.get("requestContext") or {}).get("authorizer"))
                who.require(matched.permission)
        except (Unauthorized, Forbidden) as exc:
            result = response_to_proxy(problem(
                401 if isinstance(exc, Unauthorized) else 403, exc.detail,
                headers={"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized)
                else None))
        else:
            result = _resolve(event, context, matched, who)
    if method in MUTATING:
        logger.info("audit", extra={"audit": {
            "principal": who.sub if who else None, "tenant": who.tenant if who else None,
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
        return app.resolve(event, context)
    finally:
        app.clear_context()


def _no_such_route(method: str, path: str) -> Response:
    allowed = ROUTES.methods_of(path)
    if allowed:
        return problem(405, f"{method} is not allowed on {path}",
                       headers={"Allow": ", ".join(sorted(allowed))})
    hint = " (paths have no trailing slash)" if path.endswith("/") and path != "/" else ""
    return problem(404, f"no route {method} {path}{hint}")


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


def response_to_proxy(response: Response) -> dict[str, Any]:
    return {"statusCode": response.status_code, "body": response.body, "isBase64Encoded": False,
            "headers": {"Content-Type": response.headers.get("Content-Type", ""),
                        **{k: v for k, v in response.headers.items() if isinstance(v, str)}},
            "multiValueHeaders": {}}


# --- errors --------------------------------------------------------------------------------


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    return validation_problem(exc)


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return problem(404, exc.detail)


@app.exception_handler(NotFoundError)
def _no_route(_: NotFoundError) -> Response:
    return problem(404, f"no route {app.current_event.http_method} {app.current_event.path}")


@app.exception_handler([InvalidCursor, events.InvalidRequest])
def _bad_request(exc: InvalidCursor) -> Response:
    return problem(400, exc.detail)


@app.exception_handler(IdempotencyKeyReused)
def _key_reused(exc: IdempotencyKeyReused) -> Response:
    return problem(422, exc.detail)


@app.exception_handler(IdempotencyKeyInProgress)
def _key_in_progress(exc: IdempotencyKeyInProgress) -> Response:
    return problem(409, exc.detail)


@app.exception_handler(events.PayloadTooLarge)
def _too_large(exc: events.PayloadTooLarge) -> Response:
    return problem(413, exc.detail)


@app.exception_handler([InvalidTarget, subscriptions.InvalidSubscription])
def _invalid_target(exc: InvalidTarget) -> Response:
    # Named like every other 422: the field is the subscription's url.
    return problem(422, f"url: {exc.detail}",
                   errors=[FieldProblem(field="url", message=exc.detail)])


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return problem(500, "internal error; the request id is in the logs")


# --- public ----------------------------------------------------------------------------------


@route("GET", "/health", None, summary="Is the API up",
       description="Answers `{status: ok, version}` while the API serves requests.")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def openapi_schema() -> dict[str, Any]:
    return patch_schema(app.get_openapi_schema().model_dump(mode="json", by_alias=True,
                                                            exclude_none=True))


@route("GET", "/openapi.json", None, include_in_schema=False, summary="This API's OpenAPI document")
def openapi():  # noqa: ANN201 - a raw Response is not a schema
    return Response(200, "application/json", to_json(openapi_schema()))


@route("GET", "/docs", None, include_in_schema=False, summary="Swagger UI")
def docs():  # noqa: ANN201
    from pathlib import Path

    if (app.current_event.query_string_parameters or {}).get("format") == "json":
        return openapi()  # what the Swagger page itself may request

    from aws_lambda_powertools.event_handler import openapi as powertools_openapi

    assets = Path(powertools_openapi.__file__).parent / "swagger_ui"
    html = generate_swagger_html(to_json(openapi_schema()).replace("</", "<\\/"),
                                 (assets / "swagger-ui-bundle.min.js").read_text(),
                                 (assets / "swagger-ui.min.css").read_text(), "", None)
    return Response(200, "text/html", html)


# --- subscriptions ---------------------------------------------------------------------------


@route("POST", "/subscriptions", Permission.MANAGE_SUBSCRIPTIONS, status_code=201,
       responses={400: problem_response("The body is not valid JSON")},
       summary="Subscribe an endpoint to event types",
       description="Events whose type matches one of `event_types` (`order.created`, "
                   "`order.*`, `*`) are POSTed to `url`, signed with the returned `secret` "
                   "(Standard Webhooks; shown only here and on rotation: keep it). A URL that "
                   "does not resolve to a public address is a 422 naming `url`.")
def create_subscription(
        request: Annotated[subscriptions.NewSubscription, Body()],
) -> subscriptions.SubscriptionWithSecret:
    created = subscriptions.create_subscription(principal().tenant, request,
                                                store=wiring.store(),
                                                policy=wiring.target_policy())
    return subscriptions.SubscriptionWithSecret(
        **subscriptions.SubscriptionView.of(created).model_dump(), secret=created.secret)


@route("GET", "/subscriptions", Permission.READ, responses=_BAD_CURSOR,
       summary="List your subscriptions",
       description="A page of up to `limit` subscriptions; pass `next_cursor` back as "
                   "`cursor` for the next page.")
def list_subscriptions(limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> subscriptions.SubscriptionPage:
    return subscriptions.list_subscriptions(principal().tenant, limit, cursor,
                                            store=wiring.store(),
                                            codec=wiring.cursor_codec())


@route("GET", "/subscriptions/<subscription_id>", Permission.READ, responses=_NOT_FOUND,
       summary="One subscription, with its endpoint's health",
       description="Its endpoint, event types, status and rate limit (never the secret), and "
                   "`health`: the breaker's state, failure streak, last error, parked "
                   "notifications, and why and since when it was disabled.")
def get_subscription(subscription_id: str) -> subscriptions.SubscriptionDetail:
    return subscriptions.subscription_detail(principal().tenant, subscription_id,
                                             store=wiring.store())


@route("PATCH", "/subscriptions/<subscription_id>", Permission.MANAGE_SUBSCRIPTIONS,
       responses={**_NOT_FOUND, 400: problem_response("The body is not valid JSON")},
       summary="Change, pause or resume a subscription",
       description="Send only the fields to change: `url`, `event_types`, `description`, "
                   "`rate_limit`, or `status` (`paused` holds deliveries, `active` resumes; a "
                   "disabled subscription is re-enabled with `active`).")
def update_subscription(
        subscription_id: str, changes: Annotated[subscriptions.SubscriptionChanges, Body()],
) -> subscriptions.SubscriptionView:
    return subscriptions.SubscriptionView.of(subscriptions.update_subscription(
        principal().tenant, subscription_id, changes, store=wiring.store(),
        policy=wiring.target_policy(), recoveries=wiring.recovery_executions()))


@route("DELETE", "/subscriptions/<subscription_id>", Permission.MANAGE_SUBSCRIPTIONS,
       responses={**_NOT_FOUND, 204: {"description": "Deleted"}},
       summary="Delete a subscription",
       description="No further event is delivered to it; past events keep their trace.")
def delete_subscription(subscription_id: str):  # noqa: ANN201 - 204, no body
    subscriptions.delete_subscription(principal().tenant, subscription_id,
                                      store=wiring.store())
    return Response(204, None, "")


@route("POST", "/subscriptions/<subscription_id>/rotate-secret",
       Permission.MANAGE_SUBSCRIPTIONS, responses=_NOT_FOUND,
       summary="Rotate a subscription's signing secret",
       description="Returns the new secret (shown once). For 24 hours webhooks carry both "
                   "signatures, so the receiver can switch without missing one.")
def rotate_secret(subscription_id: str) -> subscriptions.RotatedSecret:
    return subscriptions.rotate_secret(principal().tenant, subscription_id,
                                       store=wiring.store())


# --- events ----------------------------------------------------------------------------------


@route("POST", "/events", Permission.PUBLISH, status_code=202, responses={
    **_BAD_BODY, 409: problem_response("A request with this key is still in progress"),
    422: problem_response("Invalid fields, or the key was used with another body")},
       summary="Publish an event",
       description="Accepted (202) events are delivered to every active subscription whose "
                   "event types match. The same `Idempotency-Key` (or `id`) again returns the "
                   "same event and delivers nothing twice. Follow it with `GET /events/{id}`.")
def publish_event(
        request: Annotated[events.PublishRequest, Body()],
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=events.IDEMPOTENCY_KEY_MAX,
            pattern=r"^[\x20-\x7e]+$",
            description="The same key again returns the same event, delivered once")] = None,
) -> events.AcceptedEvent:
    settings = get_settings()
    return events.publish_event(
        principal().tenant, request, idempotency_key, sfn=aws.client("stepfunctions"),
        ingest_state_machine_arn=settings.ingest_state_machine_arn,
        max_data_bytes=settings.max_event_data_bytes,
        idempotency=wiring.publish_idempotency())


@route("GET", "/events", Permission.READ, responses=_BAD_CURSOR,
       summary="List events, newest first",
       description="Filter by `type`, `status` (pending, delivering, parked, delivered, "
                   "failed, or unmatched: no subscription matched, nothing was sent) and time "
                   "(`since`, `until`).")
def list_events(
        type: Annotated[str | None, Query(max_length=128)] = None,  # noqa: A002 - the contract
        status: Annotated[events.EventStatus | None, Query()] = None,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
) -> events.EventPage:
    filters = events.EventFilters(type=type, status=status, since=since, until=until)
    return events.list_events(principal().tenant, filters, limit, cursor,
                              store=wiring.store(), codec=wiring.cursor_codec())


@route("GET", "/events/<event_id>", Permission.READ, responses=_NOT_FOUND,
       summary="Trace an event: did it arrive?",
       description="Per subscription: the status, every attempt (time, status code, latency, "
                   "error), the Step Functions execution ARN and, while it waits, when its "
                   "next attempt is due and why (backoff, Retry-After, rate limit, parked, "
                   "disabled).")
def get_event(event_id: str) -> events.EventDetail:
    return events.get_event(principal().tenant, event_id, store=wiring.store(),
                            time_scale=get_settings().time_scale)


@route("POST", "/events/<event_id>/replay", Permission.REPLAY, status_code=202,
       responses={**_NOT_FOUND, 400: problem_response("The body is not valid JSON")},
       summary="Deliver an event again",
       description="Starts a new delivery per subscription (all, or `subscription_ids`) with "
                   "the same `webhook-id`, so receivers can deduplicate.")
def replay_event(event_id: str, request: Annotated[events.ReplayRequest | None, Body()] = None,
                 ) -> events.ReplayResult:
    return events.replay_event(
        principal().tenant, event_id, request or events.ReplayRequest(), store=wiring.store(),
        sfn=aws.client("stepfunctions"),
        notification_state_machine_arn=get_settings().notification_state_machine_arn)


# --- dead letters ----------------------------------------------------------------------------


@route("GET", "/dead-letters", Permission.READ, responses=_BAD_CURSOR,
       summary="List notifications that could not be delivered",
       description="Each says why it gave up (attempts, how long, the last error); filter by "
                   "`since` and `subscription_id`. Fix the endpoint, then redrive them.")
def list_dead_letters(
        since: Annotated[datetime | None, Query()] = None,
        subscription_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
) -> dead_letters.DeadLetterPage:
    return dead_letters.list_dead_letters(principal().tenant, limit, cursor,
                                          store=wiring.store(), codec=wiring.cursor_codec(),
                                          since=since, subscription_id=subscription_id)


@route("POST", "/dead-letters/redrive", Permission.REDRIVE, status_code=202,
       responses={400: problem_response("The body is not valid JSON")},
       summary="Deliver dead-lettered notifications again",
       description="Restarts up to 100 dead letters per call (all, or those `since` a time or "
                   "of one `subscription_id`); call again while `redriven` is 100.")
def redrive_dead_letters(
        request: Annotated[dead_letters.RedriveRequest | None, Body()] = None,
) -> dead_letters.RedriveResult:
    return dead_letters.redrive(
        principal().tenant, request or dead_letters.RedriveRequest(), store=wiring.store(),
        sfn=aws.client("stepfunctions"),
        notification_state_machine_arn=get_settings().notification_state_machine_arn)


# --- tokens ----------------------------------------------------------------------------------


@route("POST", "/tokens/revocations", Permission.REVOKE_TOKENS, status_code=201,
       responses={400: problem_response("The body is not valid JSON")},
       summary="Revoke tokens of your tenant",
       description="`{\"jti\": …}` refuses that one token, `{\"sub\": …}` every token of that "
                   "subject issued until now (a token issued later is accepted). Applies within "
                   "the authorizer's cache time.")
def revoke_tokens(
        request: Annotated[RevocationRequest, Body()],
) -> Revocation:
    """Revoke a token of this tenant by `jti`, or every token of a subject issued until now."""
    return wiring.token_revocations().revoke(principal().tenant, request)
