"""What the platform did, one record per thing a user cares about: an event accepted (or
refused, or matched by nothing), each attempt with its outcome and latency, each wait and why,
each dead letter, each breaker change.

A record is a sentence (`message`) and its fields. In Lambda it is a Powertools log line
(INFO, the fields as keys, correlation ids added by the logger); the local runtime sets a sink
that prints it, human readable or as JSON (`stepwire local --log-format`).
"""

from collections.abc import Callable
from typing import Any

from workflows.kernel.models import NotificationTarget, utc_now
from workflows.kernel.observability import logger

Record = dict[str, Any]
Sink = Callable[[Record], None]

_sink: Sink | None = None


def set_sink(sink: Sink | None) -> None:
    """Where records go: the Powertools logger (None, the default) or the local runtime."""
    global _sink
    _sink = sink


def _emit(kind: str, message: str, **fields: Any) -> None:
    record = {"at": utc_now().isoformat(timespec="milliseconds"), "activity": kind,
              "message": message, **{k: v for k, v in fields.items() if v is not None}}
    try:
        if _sink is None:
            logger.info(message, extra={k: v for k, v in record.items() if k != "message"})
        else:
            _sink(record)
    except Exception:  # a log line must never fail a delivery
        logger.exception("could not write an activity record")


def _ids(target: NotificationTarget) -> dict[str, str]:
    return {"tenant": target.tenant, "event_id": target.event_id,
            "subscription_id": target.subscription_id}


def event_accepted(*, tenant: str, event_id: str, event_type: str, source: str,
                   notifications: int) -> None:
    if notifications:
        told = f"{notifications} notification{'s' if notifications != 1 else ''} to deliver"
    else:
        told = "it matched no active subscription: nothing to deliver (status unmatched)"
    _emit("event.accepted", f"event {event_id} ({event_type}) accepted from {source}: {told}",
          tenant=tenant, event_id=event_id, event_type=event_type, source=source,
          notifications=notifications)


def event_refused(*, reason: str, source: str, received_id: str | None = None) -> None:
    """The EventBridge ingress refused an event and sends it, with the reason, to the ingress
    dead-letter queue. `received_id`: the id it came with (EventBridge's EventId)."""
    which = f"event {received_id} from {source}" if received_id else f"event from {source}"
    _emit("event.refused", f"{which} refused: {reason} (sent to the ingress dead-letter "
                           "queue with this reason)",
          source=source, received_id=received_id, reason=reason)


def attempt(target: NotificationTarget, *, number: int, status_code: int | None,
            latency_ms: int, error: str | None) -> None:
    outcome = f"HTTP {status_code}" if status_code is not None else "no response"
    verdict = "delivered" if error is None else f"failed ({error})"
    _emit("delivery.attempt",
          f"attempt {number} of event {target.event_id} to {target.subscription_id}: "
          f"{verdict}, {outcome} in {latency_ms} ms",
          **_ids(target), attempt=number, status_code=status_code, latency_ms=latency_ms,
          error=error, delivered=error is None)


def waiting(target: NotificationTarget, *, why: str, seconds: int | None = None) -> None:
    how_long = f"{seconds} s" if seconds is not None else "the retry schedule's next step"
    _emit("delivery.wait",
          f"event {target.event_id} to {target.subscription_id} waits {how_long}: {why}",
          **_ids(target), wait_seconds=seconds, why=why)


def dead_lettered(target: NotificationTarget, *, error: str, cause: str | None) -> None:
    _emit("delivery.dead_letter",
          f"event {target.event_id} to {target.subscription_id} dead-lettered: {cause or error}",
          **_ids(target), error=error, cause=cause)


def breaker_changed(*, subscription_id: str, state: str, reason: str | None = None) -> None:
    """An endpoint's breaker opened or closed."""
    _emit("breaker.changed",
          f"breaker of {subscription_id} is {state}" + (f": {reason}" if reason else ""),
          subscription_id=subscription_id, state=state, reason=reason)


def reconciled(*, kind: str, what: str, action: str, **ids: str | None) -> None:
    """The reconciler found something a dead execution left behind, and what it did."""
    _emit("reconciler.found", f"reconciler: {what}: {action}", finding=kind, **ids)
