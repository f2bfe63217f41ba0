"""Event use cases of the HTTP API: publish, list, get, replay."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from workflows.delivery.executions import restart_notification
from workflows.delivery.next_attempt import next_attempt
from workflows.ingest.fan_out import FanOut
from workflows.kernel.errors import NotFound, StepwireError
from workflows.kernel.ids import new_id
from workflows.kernel.models import (
    EVENT_TYPE_PATTERN,
    ID_PATTERN,
    Attempt,
    Notification,
    NotificationStatus,
    PublishedEvent,
    WaitReason,
    utc_iso,
    utc_now,
)
from workflows.kernel.payload_limits import EventData, too_large
from workflows.operations import paging
from workflows.operations.cursor import CursorCodec
from workflows.operations.idempotency import Idempotency
from workflows.storage import Store

IDEMPOTENCY_KEY_MAX = 255
_HIGHEST = "~"  # sorts after every created_at#id key
_LOWEST = "0"  # sorts before every one (a key cannot be empty)
# Events one GET /events examines (each costs a query of its notifications' statuses): a
# status or type matching nothing answers a page with a cursor instead of walking the index.
EVENTS_EXAMINED_PER_PAGE = 200


class EventStatus(StrEnum):
    """An event's status, derived from its notifications'. `unmatched`: it matched no active
    subscription when it was ingested, so nothing was sent (not `delivered`)."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    PARKED = "parked"
    UNMATCHED = "unmatched"


class PayloadTooLarge(StepwireError):
    error_name = "Api.PayloadTooLarge"


class InvalidRequest(StepwireError):
    error_name = "Api.InvalidRequest"


class PublishRequest(BaseModel):
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=128,
                      examples=["order.created"])
    data: EventData
    id: str | None = Field(default=None, pattern=ID_PATTERN,
                           description="Your id for the event: a repeat is not delivered again.")

    @field_validator("type")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if "*" in value:
            raise ValueError("an event type cannot contain '*'")
        return value


class AcceptedEvent(BaseModel):
    id: str
    type: str
    created_at: datetime


class EventSummary(BaseModel):
    id: str
    type: str
    created_at: datetime
    status: EventStatus


class EventPage(BaseModel):
    items: list[EventSummary]
    next_cursor: str | None = Field(description=(
        "Pass it back as `cursor` for the next page; null when nothing is left. A page "
        f"examines at most {EVENTS_EXAMINED_PER_PAGE} events, so with a `status` or `type` "
        "filter it may hold fewer than `limit` items, even none, and still a cursor."))


class NotificationView(BaseModel):
    subscription_id: str
    status: NotificationStatus
    attempts: list[Attempt]
    execution_arn: str | None
    next_attempt_at: datetime | None = Field(
        default=None, description="While it waits: when its next attempt is due (null when "
        "parked without a probe scheduled, or disabled until an admin re-enables it).")
    next_attempt_reason: WaitReason | None = Field(
        default=None, description="Why it waits: `backoff` (the retry schedule), "
        "`retry_after` (the receiver's Retry-After), `rate_limited` (the endpoint's rate "
        "limit: its turn in a later second), `parked` (its endpoint's breaker is open: "
        "not before the next probe) or `disabled` (parked, the subscription disabled after "
        "sustained failure); null when it does not wait.")


class EventDetail(BaseModel):
    id: str
    type: str
    data: dict[str, Any]
    created_at: datetime
    status: EventStatus
    notifications: list[NotificationView]


class ReplayRequest(BaseModel):
    subscription_ids: list[str] | None = Field(default=None, max_length=100)


class StartedNotification(BaseModel):
    subscription_id: str
    execution_arn: str


class ReplayResult(BaseModel):
    executions: list[StartedNotification]


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    status: EventStatus | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status and self.status.value,
                "since": utc_iso(self.since), "until": utc_iso(self.until)}


def event_id_for(tenant: str, request: PublishRequest, idempotency_key: str | None) -> str:
    """The client's id, else one derived from the Idempotency-Key, else a new one."""
    if request.id:
        return request.id
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
            raise InvalidRequest(f"the Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} "
                                 "printable characters")
        digest = hashlib.sha256(f"{tenant}\x00{idempotency_key}".encode()).hexdigest()
        return f"evt_k{digest[:40]}"
    return new_id("evt")


def publish_event(tenant: str, request: PublishRequest, idempotency_key: str | None, *,
                  fan_out: FanOut, max_data_bytes: int,
                  idempotency: Idempotency) -> AcceptedEvent:
    """Store the event, then fan it out: 202 means stored (whatever fails after that is
    finished by the ingest workflow's retries or the reconciler). With an Idempotency-Key (or
    the client's id) a repeat with the same body answers the event as first accepted, and
    another body is an error naming the key; an event id is stored once, so a repeat never
    delivers twice either way."""
    if reason := too_large(request.data, max_data_bytes):
        raise PayloadTooLarge(reason)
    event_id = event_id_for(tenant, request, idempotency_key)

    def start() -> dict[str, Any]:
        event = fan_out.accept(
            PublishedEvent(tenant=tenant, type=request.type, data=request.data, id=event_id,
                           created_at=utc_now()),
            new_id("pub"), source="api").event
        return AcceptedEvent(id=event.id, type=event.type,
                             created_at=event.created_at).model_dump(mode="json")

    if idempotency_key is not None:
        key, key_name = idempotency_key, "Idempotency-Key"
    elif request.id is not None:
        key, key_name = request.id, "id"
    else:
        return AcceptedEvent.model_validate(start())
    return AcceptedEvent.model_validate(idempotency.once(
        tenant, key, request.model_dump(mode="json"), start, key_name=key_name))


def event_status(statuses: list[str]) -> EventStatus:
    """unmatched if there is no notification; failed if any failed; parked if any waits behind
    an open breaker; delivered if all are; delivering once any attempt was made or any
    delivered; pending otherwise."""
    if not statuses:
        return EventStatus.UNMATCHED
    if NotificationStatus.FAILED in statuses:
        return EventStatus.FAILED
    if NotificationStatus.PARKED in statuses:
        return EventStatus.PARKED
    if all(s == NotificationStatus.DELIVERED for s in statuses):
        return EventStatus.DELIVERED
    if any(s in (NotificationStatus.DELIVERING, NotificationStatus.DELIVERED) for s in statuses):
        return EventStatus.DELIVERING
    return EventStatus.PENDING


def list_events(tenant: str, filters: EventFilters, limit: int, cursor: str | None, *,
                store: Store, codec: CursorCodec,
                examine_at_most: int = EVENTS_EXAMINED_PER_PAGE) -> EventPage:
    """Newest first. Type is filtered by DynamoDB, status (derived, one query per event) here;
    the cursor is the last examined event's position, so each event appears exactly once
    across pages. At most `examine_at_most` events are examined per page: a filter that
    matches few of them answers fewer than `limit` items with a cursor to go on from."""
    position = codec.decode(cursor, tenant, filters.as_dict()) if cursor else None
    since = utc_iso(filters.since) or _LOWEST
    until = (utc_iso(filters.until) or "") + _HIGHEST if filters.until else _HIGHEST

    def summary(item: dict[str, Any]) -> EventSummary | None:
        status = event_status(store.notification_statuses(tenant, item["id"]))
        if filters.status is not None and status != filters.status:
            return None
        return EventSummary(id=item["id"], type=item["type"], created_at=item["created_at"],
                            status=status)

    items, position = paging.collect(
        lambda size, after: store.events_page(tenant, since=since, until=until,
                                              event_type=filters.type, page_size=size,
                                              after=after),
        summary, limit, position, examine_at_most=examine_at_most)
    next_cursor = codec.encode(tenant, filters.as_dict(), position) if position else None
    return EventPage(items=items, next_cursor=next_cursor)


def get_event(tenant: str, event_id: str, *, store: Store,
              time_scale: float = 1.0) -> EventDetail:
    found = store.get_event_with_notifications(tenant, event_id)
    if found is None:
        raise NotFound(f"event '{event_id}' not found")
    event, notifications = found
    return EventDetail(
        id=event.id, type=event.type, data=event.data, created_at=event.created_at,
        status=event_status([n.status for n in notifications]),
        notifications=[_view(n, store, time_scale) for n in notifications])


def _view(notification: Notification, store: Store, time_scale: float) -> NotificationView:
    waiting = next_attempt(notification, time_scale=time_scale,
                           endpoint_health=lambda: store.endpoint_health(
                               notification.tenant, notification.subscription_id))
    return NotificationView(
        subscription_id=notification.subscription_id, status=notification.status,
        attempts=notification.attempts, execution_arn=notification.execution_arn,
        next_attempt_at=waiting.at if waiting else None,
        next_attempt_reason=waiting.reason if waiting else None)


def replay_event(tenant: str, event_id: str, request: ReplayRequest, *, store: Store, sfn: Any,
                 notification_state_machine_arn: str) -> ReplayResult:
    """A new execution per notification (new name), the same webhook-id: receivers dedupe."""
    found = store.get_event_with_notifications(tenant, event_id)
    if found is None:
        raise NotFound(f"event '{event_id}' not found")
    notifications = {n.subscription_id: n for n in found[1]}
    wanted = request.subscription_ids if request.subscription_ids is not None \
        else list(notifications)
    unknown = [s for s in wanted if s not in notifications]
    if unknown:
        raise NotFound(f"event '{event_id}' has no notification for subscription(s) "
                       f"{', '.join(unknown)}")
    started = []
    for subscription_id in dict.fromkeys(wanted):
        arn = restart_notification(
            sfn, store, notification_state_machine_arn, tenant=tenant, event_id=event_id,
            subscription_id=subscription_id,
            webhook_id=notifications[subscription_id].webhook_id, reason="replay")
        assert arn is not None  # an unconditional restart always starts
        started.append(StartedNotification(subscription_id=subscription_id, execution_arn=arn))
    return ReplayResult(executions=started)


