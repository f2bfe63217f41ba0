"""When a waiting notification's next attempt is due, and why (`GET /events/{id}`).

Backoff and Retry-After waits are recorded on the notification's row by the workflow when it
decides them (its Record* states: the time and the declared seconds), a rate-limited wait by
the Deliver task that decides it; each is cleared when the attempt starts. A parked
notification waits on its endpoint: not before the recovery's next probe, which the probe
itself records on the endpoint's health item.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel

from workflows.delivery.breaker import EndpointHealth
from workflows.kernel.models import Notification, NotificationStatus, WaitReason

WAITING = (NotificationStatus.PENDING, NotificationStatus.DELIVERING)


class NextAttempt(BaseModel):
    at: datetime | None
    reason: WaitReason


def next_attempt(notification: Notification, *, endpoint_health: Callable[[], EndpointHealth],
                 time_scale: float = 1.0) -> NextAttempt | None:
    """None unless it waits. `time_scale`: locally, the workflows' waits are that much shorter
    than they declare (`--retry-time-scale`); 1 in AWS."""
    if notification.status is NotificationStatus.PARKED:
        health = endpoint_health()
        if health.disabled_reason:  # waits for a re-enable (or the end of the retry window)
            return NextAttempt(at=None, reason=WaitReason.DISABLED)
        return NextAttempt(at=health.next_probe_at, reason=WaitReason.PARKED)
    wait = notification.next_attempt
    if wait is None or notification.status not in WAITING:
        return None
    return NextAttempt(at=wait.decided_at + timedelta(seconds=wait.wait_seconds * time_scale),
                       reason=wait.reason)
