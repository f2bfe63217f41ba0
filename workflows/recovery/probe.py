"""The recovery workflow's Probe task, for one endpoint whose breaker is open.

Dead-letter what is parked past the retry window (workflows/recovery/expiry.py), disable the
subscription after sustained failure, else attempt the oldest parked notification (a real
delivery): success closes the breaker, a retryable failure keeps it open until the next
probe (the schedule is declared in the workflow).

Only the recovery that the endpoint's health item names acts: one that finds another name
there hands over to it without a step, unless that one has ended (it then takes the name
back, workflows/recovery/liveness.py). After LOOPS_PER_EXECUTION loops it names a fresh
execution of itself and hands over (continue-as-new).
"""

from pydantic import BaseModel, Field

from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.delivery.breaker import BreakerState
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
    SubscriptionStatus,
    utc_now,
)
from workflows.recovery.expiry import (
    EXPIRED_PER_PROBE,
    DeadLetterOrder,
    DeadLetterQueue,
    dead_letter,
    expired,
)
from workflows.recovery.handover import continue_as_new_due
from workflows.recovery.liveness import RecoveryLiveness
from workflows.recovery.outcomes import Endpoint, Outcome, superseded
from workflows.storage import Store


class ProbeRequest(BaseModel):
    endpoint: Endpoint
    probes: int = Field(ge=0)
    # The waits between probes, as the workflow declares them; the last one repeats.
    probe_waits: list[int] = Field(min_length=1)
    execution_arn: str
    # Loops this execution made before this one (continue-as-new counts them).
    loops: int = Field(default=0, ge=0)

    @property
    def recovery_name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]


class ProbeResult(BaseModel):
    outcome: Outcome
    wait_seconds: int
    # Parked notifications this probe dead-lettered.
    dead_lettered: int = 0
    # SUPERSEDED or CONTINUE: the execution to hand over to.
    successor: str | None = None


def probe_endpoint(request: ProbeRequest, *, store: Store, config: DeliveryConfig,
                   recoveries: RecoveryLiveness, queue: DeadLetterQueue) -> ProbeResult:
    endpoint, breaker = request.endpoint, config.breaker
    tenant, subscription_id = endpoint.tenant, endpoint.subscription_id
    now = utc_now()
    wait = request.probe_waits[min(request.probes, len(request.probe_waits) - 1)]
    health = store.endpoint_health(tenant, subscription_id)
    if health.recovery != request.recovery_name and not recoveries.adopt(
            endpoint, request.recovery_name, health.recovery):
        return ProbeResult(outcome=superseded(health.recovery), wait_seconds=wait,
                           successor=health.recovery)
    successor = continue_as_new_due(endpoint, request.recovery_name, request.loops,
                                    store=store)
    if successor is not None:
        return ProbeResult(outcome=Outcome.CONTINUE, wait_seconds=wait, successor=successor)

    def letters(orders: list[tuple[dict, DeadLetterOrder]]) -> int:
        return dead_letter(orders, store=store, queue=queue, execution_arn=request.execution_arn)

    past_window = expired(store, endpoint, now, breaker)
    dead_lettered = letters(past_window)
    if len(past_window) == EXPIRED_PER_PROBE:
        return ProbeResult(outcome=Outcome.EXPIRING, wait_seconds=0, dead_lettered=dead_lettered)

    def result(outcome: Outcome) -> ProbeResult:
        if outcome in (Outcome.OPEN, Outcome.DISABLED):
            store.set_breaker(tenant, subscription_id, BreakerState.OPEN,
                              next_probe_at=now + breaker.scaled(wait))
            observability.parked_backlog(store.parked_count(tenant, subscription_id))
        return ProbeResult(outcome=outcome, wait_seconds=wait, dead_lettered=dead_lettered)

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
        return _closed(store, endpoint, wait, dead_lettered)
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
        return ProbeResult(outcome=Outcome.EXPIRING, wait_seconds=0, dead_lettered=dead_lettered)
    except DeliveryPermanent as exc:
        # The endpoint answered: it is up; this one payload goes to the dead letters.
        dead_lettered += letters([(parked_key, DeadLetterOrder(
            notification=target, error=exc.error_name, cause=exc.to_message()))])
    else:
        store.set_notification_status(target, NotificationStatus.DELIVERED,
                                      execution_arn=request.execution_arn)
        store.unpark(parked_key)
    return _closed(store, endpoint, wait, dead_lettered)


def _closed(store: Store, endpoint: Endpoint, wait: int, dead_lettered: int) -> ProbeResult:
    if store.close_breaker(endpoint.tenant, endpoint.subscription_id):
        observability.breaker_closed()
        activity.breaker_changed(subscription_id=endpoint.subscription_id, state="closed",
                                 reason="the probe was delivered")
    return ProbeResult(outcome=Outcome.CLOSED, wait_seconds=wait, dead_lettered=dead_lettered)
