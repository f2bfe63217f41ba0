"""The recovery of one endpoint whose breaker is open (the `recovery` workflow's tasks).

Probe: dead-letter what is parked past the retry window, disable the subscription after
sustained failure, else attempt the oldest parked notification (a real delivery): success
closes the breaker, a retryable failure keeps it open until the next probe (the schedule is
declared in the workflow). Release: restart the parked notifications, oldest first, a batch
per second at the release rate, then end the recovery, unless the breaker opened again.

Only the recovery that the endpoint's health item names acts: one that finds another name
there was superseded (workflows/recovery/handover.py) and hands over to it without a step.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.delivery.breaker import BreakerConfig, BreakerState
from workflows.delivery.executions import restart_notification
from workflows.kernel import activity, observability
from workflows.kernel.errors import (
    DeliveryAlreadyDone,
    DeliveryHeldElsewhere,
    DeliveryPermanent,
    DeliveryRetryable,
)
from workflows.kernel.models import (
    DeliveryRequest,
    NotificationStatus,
    NotificationTarget,
    SubscriptionStatus,
    utc_now,
)
from workflows.storage import Store

# Dead letters per probe: the workflow's Map input stays far below 256 KiB; with more, the
# workflow probes again at once.
EXPIRED_PER_PROBE = 50
WINDOW_ENDED = "Delivery.WindowEnded"


class Outcome(StrEnum):
    OPEN = "open"  # still failing: wait, probe again
    EXPIRING = "expiring"  # more parked notifications are past the window: probe again now
    DISABLED = "disabled"  # the subscription is disabled: wait for a re-enable or the window
    CLOSED = "closed"  # the endpoint answered: release what is parked
    MORE = "more"  # (release) a batch was released, more are parked
    DONE = "done"  # nothing parked and the breaker closed, or no recovery named: it ends
    SUPERSEDED = "superseded"  # another execution is the endpoint's recovery: start it, end
    CONTINUE = "continue"  # (release) a fresh execution carries on: start it, end


class Endpoint(BaseModel):
    tenant: str
    subscription_id: str


class ProbeRequest(BaseModel):
    endpoint: Endpoint
    probes: int = Field(ge=0)
    # The waits between probes, as the workflow declares them; the last one repeats.
    probe_waits: list[int] = Field(min_length=1)
    execution_arn: str

    @property
    def recovery_name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]


class DeadLetterOrder(BaseModel):
    """One parked notification for the workflow's RecordFailure → DLQ."""

    notification: NotificationTarget
    error: str
    cause: str


class ProbeResult(BaseModel):
    outcome: Outcome
    wait_seconds: int
    dead_letters: list[DeadLetterOrder]
    # SUPERSEDED: the execution to hand over to.
    successor: str | None = None


def probe_endpoint(request: ProbeRequest, *, store: Store, config: DeliveryConfig) -> ProbeResult:
    tenant, subscription_id = request.endpoint.tenant, request.endpoint.subscription_id
    breaker = config.breaker
    now = utc_now()
    wait = request.probe_waits[min(request.probes, len(request.probe_waits) - 1)]
    health = store.endpoint_health(tenant, subscription_id)
    if health.recovery != request.recovery_name:
        return ProbeResult(outcome=_superseded(health.recovery), wait_seconds=wait,
                           dead_letters=[], successor=health.recovery)
    dead_letters = _past_window(store, request.endpoint, now, breaker)
    if len(dead_letters) == EXPIRED_PER_PROBE:
        return ProbeResult(outcome=Outcome.EXPIRING, wait_seconds=0, dead_letters=dead_letters)

    def result(outcome: Outcome) -> ProbeResult:
        if outcome in (Outcome.OPEN, Outcome.DISABLED):
            store.set_breaker(tenant, subscription_id, BreakerState.OPEN,
                              next_probe_at=now + breaker.scaled(wait))
            observability.parked_backlog(store.parked_count(tenant, subscription_id))
        return ProbeResult(outcome=outcome, wait_seconds=wait, dead_letters=dead_letters)

    subscription = store.get_subscription(tenant, subscription_id)
    if not health.is_open or subscription is None:
        # Re-enabled by an admin, or deleted (its released notifications then dead-letter).
        return result(Outcome.CLOSED)
    if subscription.status is SubscriptionStatus.DISABLED:
        return result(Outcome.DISABLED)
    if breaker.should_disable(health, now):
        reason = (f"only failures since {health.failing_since.isoformat()}"  # type: ignore[union-attr]
                  f" (last: {health.last_error})")
        # The reason first: whoever sees the subscription disabled can read why.
        store.mark_endpoint_disabled(tenant, subscription_id, reason, now)
        store.set_subscription_status(tenant, subscription_id, SubscriptionStatus.DISABLED)
        observability.logger.warning("subscription disabled after sustained failure", extra={
            "tenant": tenant, "subscription_id": subscription_id, "reason": reason})
        return result(Outcome.DISABLED)
    if request.probes == 0:
        return result(Outcome.OPEN)  # it has just failed: the first probe after the first wait

    oldest = store.oldest_parked(tenant, subscription_id, limit=1)
    if not oldest:
        return _closed(store, request.endpoint, wait, dead_letters)
    parked_key, parked = oldest[0]
    target = parked.notification
    store.set_breaker(tenant, subscription_id, BreakerState.HALF_OPEN)
    try:
        deliver_notification(DeliveryRequest(notification=target, attempt=1,
                                             execution_arn=request.execution_arn),
                             store=store, config=config, probe=True)
    except DeliveryRetryable:
        store.set_notification_status(target, NotificationStatus.PARKED)
        return result(Outcome.OPEN)
    except (DeliveryAlreadyDone, DeliveryHeldElsewhere):
        store.unpark(parked_key)  # handled elsewhere: probe with the next one
        return ProbeResult(outcome=Outcome.EXPIRING, wait_seconds=0, dead_letters=dead_letters)
    except DeliveryPermanent as exc:
        # The endpoint answered: it is up; this one payload goes to the dead letters.
        store.unpark(parked_key)
        dead_letters.append(DeadLetterOrder(notification=target, error=exc.error_name,
                                            cause=exc.to_message()))
    else:
        store.set_notification_status(target, NotificationStatus.DELIVERED,
                                      execution_arn=request.execution_arn)
        store.unpark(parked_key)
    return _closed(store, request.endpoint, wait, dead_letters)


def _closed(store: Store, endpoint: Endpoint, wait: int,
            dead_letters: list[DeadLetterOrder]) -> ProbeResult:
    if store.close_breaker(endpoint.tenant, endpoint.subscription_id):
        observability.breaker_closed()
        activity.breaker_changed(subscription_id=endpoint.subscription_id, state="closed",
                                 reason="the probe was delivered")
    return ProbeResult(outcome=Outcome.CLOSED, wait_seconds=wait, dead_letters=dead_letters)


def _superseded(successor: str | None) -> Outcome:
    """Not the endpoint's recovery (any more): hand over to the one named, or just end."""
    return Outcome.SUPERSEDED if successor else Outcome.DONE


def _past_window(store: Store, endpoint: Endpoint, now: datetime,
                 breaker: BreakerConfig) -> list[DeadLetterOrder]:
    """Parked notifications accepted longer than the retry window ago (the oldest come first),
    unparked and handed to the workflow for the dead-letter queue."""
    orders = []
    for parked_key, parked in store.oldest_parked(endpoint.tenant, endpoint.subscription_id,
                                                  limit=EXPIRED_PER_PROBE):
        if now - parked.since < breaker.retry_window:
            break
        store.unpark(parked_key)
        orders.append(DeadLetterOrder(
            notification=parked.notification, error=WINDOW_ENDED,
            cause=f"parked since {parked.parked_at.isoformat()} behind the open circuit "
                  f"breaker; the retry window ended"))
    return orders


class ReleaseRequest(BaseModel):
    endpoint: Endpoint
    recovery_name: str
    # Batches this execution released before this one (continue-as-new counts them).
    batches: int = Field(default=0, ge=0)


class ReleaseResult(BaseModel):
    outcome: Outcome
    # SUPERSEDED or CONTINUE: the execution to hand over to.
    successor: str | None = None


def release_parked(request: ReleaseRequest, *, store: Store, sfn: Any,
                   notification_state_machine_arn: str, default_rate: int) -> ReleaseResult:
    """One second's worth: restart up to `default_rate` (the operator's release rate), or the
    endpoint's rate limit when it is lower, of parked notifications, oldest first (a new fast
    execution each, the same webhook-id). MORE while some remain; DONE when none remain and
    the recovery has ended; OPEN if the breaker opened again."""
    tenant, subscription_id = request.endpoint.tenant, request.endpoint.subscription_id
    health = store.endpoint_health(tenant, subscription_id)
    if health.recovery != request.recovery_name:
        return ReleaseResult(outcome=_superseded(health.recovery), successor=health.recovery)
    if health.is_open:
        return ReleaseResult(outcome=Outcome.OPEN)
    subscription = store.get_subscription(tenant, subscription_id)
    # Never above the operator's rate: a batch is one Lambda call, restarting one at a time.
    rate = min(subscription.rate_limit or default_rate, default_rate) \
        if subscription is not None else default_rate
    batch = store.oldest_parked(tenant, subscription_id, limit=rate)
    for parked_key, parked in batch:
        target = parked.notification
        # Restart before unparking: a crash in between restarts it twice (the table's claim
        # delivers once), never loses it.
        restart_notification(sfn, store, notification_state_machine_arn, tenant=tenant,
                             event_id=target.event_id, subscription_id=subscription_id,
                             webhook_id=target.webhook_id, reason="released")
        store.unpark(parked_key)
    if len(batch) == rate:
        return ReleaseResult(outcome=Outcome.MORE)
    if store.finish_recovery(tenant, subscription_id, request.recovery_name):
        return ReleaseResult(outcome=Outcome.DONE)
    return ReleaseResult(outcome=Outcome.OPEN)
