"""The ingest use case: accept one published event and plan its notifications."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows.kernel.errors import InvalidEvent
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import Event, NotificationTarget, PublishedEvent, utc_now
from workflows.operations.subscriptions import matching_subscriptions
from workflows.storage import Store

# An EventBridge source `tenant.<tenant>` is bound to that tenant: the bus policy lets an outside
# producer put only the sources of its own tenants (stacks/ingress.py), and this check makes
# the claimed tenant follow the source.
TENANT_SOURCE_PREFIX = "tenant."


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class IngestResult(BaseModel):
    """The verdict the ingest workflow branches on."""

    outcome: Outcome
    event_id: str | None = None
    tenant: str | None = None
    type: str | None = None
    reason: str | None = None
    notifications: list[NotificationTarget] = []


def parse_published(raw: Any) -> PublishedEvent:
    """An event from the API (`{tenant, type, data, id?}`) or an EventBridge envelope
    (`detail-type` is the type, `detail` is `{tenant, data, id?}`)."""
    if not isinstance(raw, dict):
        raise InvalidEvent("the event must be a JSON object")
    if "detail-type" in raw:
        detail = raw.get("detail")
        if not isinstance(detail, dict):
            raise InvalidEvent("the EventBridge event has no 'detail' object")
        source = str(raw.get("source") or "")
        if source.startswith(TENANT_SOURCE_PREFIX) and \
                detail.get("tenant") != source.removeprefix(TENANT_SOURCE_PREFIX):
            raise InvalidEvent(f"the source '{source}' may publish only for tenant "
                               f"'{source.removeprefix(TENANT_SOURCE_PREFIX)}'")
        fields = {"tenant": detail.get("tenant"), "type": raw.get("detail-type"),
                  "data": detail.get("data"), "id": detail.get("id") or raw.get("id")}
        # Absent, not null: a missing tenant reads "Field required".
        raw = {name: value for name, value in fields.items() if value is not None}
        where = _ENVELOPE_FIELDS
    else:
        where = {}
    try:
        return PublishedEvent.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_field_name(e['loc'], where)}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidEvent(f"invalid event: {problems}") from None


# An EventBridge event's fields, named as the producer wrote them.
_ENVELOPE_FIELDS = {"tenant": "detail.tenant", "type": "detail-type", "data": "detail.data",
                    "id": "detail.id"}


def _field_name(location: tuple, where: dict[str, str]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in where:
        parts[0] = where[parts[0]]
    return ".".join(parts) or "event"


def ingest_event(raw: Any, ingest_execution: str, *, store: Store) -> IngestResult:
    """Persist the event once (a repeat of its id is a duplicate) and plan one notification per
    active, matching subscription. A retry of the same ingest execution is not a duplicate: it
    picks up where a failed attempt stopped. Invalid input is rejected with the reason."""
    try:
        published = parse_published(raw)
    except InvalidEvent as exc:
        return IngestResult(outcome=Outcome.REJECTED, reason=exc.detail)
    event = Event(id=published.id or new_id("evt"), tenant=published.tenant,
                  type=published.type, data=published.data,
                  created_at=published.created_at or utc_now())
    owner = store.put_event_if_new(event, ingest_execution)
    if owner != ingest_execution:
        return IngestResult(outcome=Outcome.DUPLICATE, event_id=event.id, tenant=event.tenant)
    targets = [
        NotificationTarget(
            tenant=event.tenant, event_id=event.id, subscription_id=subscription.id,
            webhook_id=webhook_id(event.tenant, event.id, subscription.id),
            # Subscription ids are unique across tenants: no need to spend the name on it.
            execution_name=execution_name(event.id, subscription.id),
        )
        for subscription in matching_subscriptions(event.tenant, event.type, store=store)
    ]
    store.create_notifications(targets)
    return IngestResult(outcome=Outcome.ACCEPTED, event_id=event.id, tenant=event.tenant,
                        type=event.type, notifications=targets)
