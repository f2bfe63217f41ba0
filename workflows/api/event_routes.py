"""`/events`: publish, list, trace, replay.
"""

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from workflows import wiring
from workflows.api.problems import (
    problem_response,
)
from workflows.api.resolver import (
    BAD_BODY,
    BAD_CURSOR,
    DEFAULT_LIMIT,
    NOT_FOUND,
    Cursor,
    Limit,
    route,
    tenant,
)
from workflows.auth.roles import Permission
from workflows.kernel import aws
from workflows.kernel.settings import get_settings
from workflows.operations import events


@route("POST", "/events", Permission.PUBLISH, status_code=202, responses={
    **BAD_BODY, 409: problem_response("A request with this key is still in progress"),
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
        tenant(), request, idempotency_key, fan_out=wiring.fan_out(),
        max_data_bytes=settings.max_event_data_bytes,
        idempotency=wiring.publish_idempotency())


@route("GET", "/events", Permission.READ, responses=BAD_CURSOR,
       summary="List events, newest first",
       description="Filter by `type`, `status` (pending, delivering, parked, delivered, "
                   "failed, or unmatched: no subscription matched, nothing was sent) and time "
                   "(`since`, `until`). A page examines at most "
                   f"{events.EVENTS_EXAMINED_PER_PAGE} events: a filtered page may hold fewer "
                   "than `limit` items (even none) with a `next_cursor`; follow the cursor "
                   "until it is null.")
def list_events(
        type: Annotated[str | None, Query(max_length=128)] = None,  # the contract
        status: Annotated[events.EventStatus | None, Query()] = None,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
) -> events.EventPage:
    filters = events.EventFilters(type=type, status=status, since=since, until=until)
    return events.list_events(tenant(), filters, limit, cursor,
                              store=wiring.store(), codec=wiring.cursor_codec())


@route("GET", "/events/<event_id>", Permission.READ, responses=NOT_FOUND,
       summary="Trace an event: did it arrive?",
       description="Per subscription: the status, every attempt (time, status code, latency, "
                   "error), the Step Functions execution ARN and, while it waits, when its "
                   "next attempt is due and why (backoff, Retry-After, rate limit, parked, "
                   "disabled).")
def get_event(event_id: str) -> events.EventDetail:
    return events.get_event(tenant(), event_id, store=wiring.store(),
                            time_scale=get_settings().time_scale)


@route("POST", "/events/<event_id>/replay", Permission.REPLAY, status_code=202,
       responses={**NOT_FOUND, 400: problem_response("The body is not valid JSON")},
       summary="Deliver an event again",
       description="Starts a new delivery per subscription (all, or `subscription_ids`) with "
                   "the same `webhook-id`, so receivers can deduplicate.")
def replay_event(event_id: str, request: Annotated[events.ReplayRequest | None, Body()] = None,
                 ) -> events.ReplayResult:
    return events.replay_event(
        tenant(), event_id, request or events.ReplayRequest(), store=wiring.store(),
        sfn=aws.client("stepfunctions"),
        notification_state_machine_arn=get_settings().notification_state_machine_arn)
