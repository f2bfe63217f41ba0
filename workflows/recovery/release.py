"""The recovery workflow's Release task: once the endpoint answers, restart its parked
notifications, oldest first, a batch per second at the release rate, then end the recovery,
unless the breaker opened again.

Only the recovery that the endpoint's health item names acts (as the probe,
workflows/recovery/probe.py): another hands over to it, unless that one has ended.
"""

from typing import Any

from pydantic import BaseModel, Field

from workflows.delivery.executions import restart_notification
from workflows.recovery.liveness import RecoveryLiveness
from workflows.recovery.outcomes import Endpoint, Outcome, superseded
from workflows.storage import Store


class ReleaseRequest(BaseModel):
    endpoint: Endpoint
    recovery_name: str
    # Batches this execution released before this one (continue-as-new counts them).
    batches: int = Field(default=0, ge=0)
    # Loops this execution made before this one, of every kind (continue-as-new counts them).
    loops: int = Field(default=0, ge=0)


class ReleaseResult(BaseModel):
    outcome: Outcome
    # SUPERSEDED or CONTINUE: the execution to hand over to.
    successor: str | None = None


def release_parked(request: ReleaseRequest, *, store: Store, sfn: Any,
                   notification_state_machine_arn: str, default_rate: int,
                   recoveries: RecoveryLiveness) -> ReleaseResult:
    """One second's worth: restart up to `default_rate` (the operator's release rate), or the
    endpoint's rate limit when it is lower, of parked notifications, oldest first (a new fast
    execution each, the same webhook-id). MORE while some remain; DONE when none remain and
    the recovery has ended; OPEN if the breaker opened again."""
    endpoint = request.endpoint
    tenant, subscription_id = endpoint.tenant, endpoint.subscription_id
    health = store.endpoint_health(tenant, subscription_id)
    if health.recovery != request.recovery_name and not recoveries.adopt(
            endpoint, request.recovery_name, health.recovery):
        return ReleaseResult(outcome=superseded(health.recovery), successor=health.recovery)
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
        # delivers once), never loses it. One the probe of the recovery this one replaced
        # has just delivered (its row not yet unparked) is not sent again.
        restart_notification(sfn, store, notification_state_machine_arn, tenant=tenant,
                             event_id=target.event_id, subscription_id=subscription_id,
                             webhook_id=target.webhook_id, reason="released",
                             unless_delivered=True)
        store.unpark(parked_key)
    if len(batch) == rate:
        return ReleaseResult(outcome=Outcome.MORE)
    if store.finish_recovery(tenant, subscription_id, request.recovery_name):
        return ReleaseResult(outcome=Outcome.DONE)
    return ReleaseResult(outcome=Outcome.OPEN)
