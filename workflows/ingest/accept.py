"""Acceptance: an event from either ingress checked and stored once, before anyone is told it
was accepted. Whatever fails after the store is finished later (the fan-out's retries, else the
reconciler): a 202 is never answered for an event that is only in flight."""

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows.kernel import activity
from workflows.kernel.errors import InvalidEvent
from workflows.kernel.ids import new_id
from workflows.kernel.models import Event, PublishedEvent, utc_now
from workflows.kernel.payload_limits import too_large
from workflows.storage import Store

# An EventBridge source `tenant.<tenant>` is bound to that tenant: the bus policy lets an outside
# producer put only the sources of its own tenants (stacks/ingress.py), and this check makes
# the claimed tenant follow the source.
TENANT_SOURCE_PREFIX = "tenant."


class Accepted(BaseModel):
    event: Event
    # False when another acceptance stored this id first: a duplicate, not delivered again.
    new: bool


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


def check_size(published: PublishedEvent, max_data_bytes: int) -> None:
    """`data` as it will be stored (UTF-8, not escaped) within the limit, else InvalidEvent."""
    if reason := too_large(published.data, max_data_bytes):
        raise InvalidEvent(reason)


def accept_event(published: PublishedEvent, owner: str, *, store: Store) -> Accepted:
    """Store the event once. `owner` names this acceptance (a publish call, an EventBridge
    event id): its repeat (a redelivered message) is not a duplicate and fans out again,
    idempotently; any other acceptance of the same id is a duplicate."""
    event = Event(id=published.id or new_id("evt"), tenant=published.tenant,
                  type=published.type, data=published.data,
                  created_at=published.created_at or utc_now())
    stored_by = store.put_event_if_new(event, owner)
    if stored_by != owner:
        found = store.get_event(event.tenant, event.id)
        return Accepted(event=found or event, new=False)
    return Accepted(event=event, new=True)


def envelope_owner(raw: Any) -> str:
    """The acceptance of an EventBridge event: its envelope id (redeliveries share it)."""
    envelope_id = raw.get("id") if isinstance(raw, dict) else None
    return f"eventbridge:{envelope_id}" if envelope_id else new_id("eventbridge")


def refusal(raw_body: str, reason: str, *, refused_at: str, message_id: str) -> dict[str, Any]:
    """The ingress dead-letter message of a refused event: the event as received and why."""
    try:
        event: Any = json.loads(raw_body)
    except ValueError:
        event = raw_body
    return {"refused": "Stepwire refused this event: it was not stored and nothing was "
                       "delivered.",
            "error": InvalidEvent.error_name, "cause": reason, "event": event,
            "refused_at": refused_at, "message_id": message_id}


def refuse(sqs: Any, queue_url: str, raw_body: str, reason: str, *, message_id: str,
           source: str, received_id: str | None) -> None:
    """Send a refused event with its reason to the ingress dead-letter queue."""
    activity.event_refused(reason=reason, source=source, received_id=received_id)
    body = refusal(raw_body, reason, refused_at=utc_now().isoformat(), message_id=message_id)
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, ensure_ascii=False),
                     MessageAttributes={
                         "ERROR_CODE": {"DataType": "String",
                                        "StringValue": InvalidEvent.error_name},
                         "ERROR_MESSAGE": {"DataType": "String", "StringValue": reason[:1000]}})
