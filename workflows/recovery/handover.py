"""Handing an endpoint's recovery to a fresh execution, so that one execution acts at a time.

The endpoint's health item names its one recovery execution; only that one acts (a recovery
that finds another name there hands over to it and ends, workflows/recovery/probe.py and
release.py). The name changes in these cases:
- an admin re-enables the subscription (`PATCH status=active`): the breaker closes and a new
  recovery starts at once to release what is parked, instead of the old one doing it at its
  next probe (up to an hour away); the old one is left to end itself at its next step (a
  stop could cut it between a probe and the dead letters that probe decided);
- continue-as-new: after `recovery_batches_per_execution` release batches, or
  LOOPS_PER_EXECUTION loops of any kind (workflows/recovery/outcomes.py: a Standard history
  holds 25,000 events), the recovery names its successor and starts it as its last step;
- the named one has ended (failed, timed out, stopped): it is replaced
  (workflows/recovery/liveness.py).
"""

from workflows.delivery.breaker import recovery_name
from workflows.recovery.liveness import RecoveryExecutions
from workflows.recovery.outcomes import LOOPS_PER_EXECUTION, Endpoint, Outcome
from workflows.recovery.release import ReleaseRequest, ReleaseResult
from workflows.storage import Store

__all__ = ["RecoveryExecutions", "continue_as_new_due", "continue_as_new_if_due",
           "release_now"]


def release_now(tenant: str, subscription_id: str, *, store: Store,
                recoveries: RecoveryExecutions) -> str | None:
    """A re-enable: close the breaker and start a new recovery that releases what is parked at
    once. The one it replaces is not stopped: it may be between a probe and the dead letters
    that probe decided; at its next step it finds itself superseded and ends. The new
    execution's name, or None when the breaker was not open (nothing parked waits on a
    probe)."""
    successor = recovery_name(tenant, subscription_id)
    replaced = store.close_breaker_for_release(tenant, subscription_id, successor)
    if replaced is None:
        return None
    # Were the start to fail, the old one, at its next step, would find its successor named
    # and start it: nothing parked is stranded.
    recoveries.start(successor, Endpoint(tenant=tenant, subscription_id=subscription_id))
    return successor


def continue_as_new_due(endpoint: Endpoint, running: str, loops: int, *,
                        store: Store) -> str | None:
    """After the loop that makes LOOPS_PER_EXECUTION: the successor named in `running`'s
    place (it starts as this execution's last step), or None (not due, or superseded
    meanwhile: the next step finds out and hands over)."""
    if loops + 1 < LOOPS_PER_EXECUTION:
        return None
    return _name_successor(endpoint, running, store)


def continue_as_new_if_due(request: ReleaseRequest, result: ReleaseResult, *, store: Store,
                           batches_per_execution: int) -> ReleaseResult:
    """After the batch that makes `batches_per_execution` (or the loop that makes
    LOOPS_PER_EXECUTION), with more parked: name a successor (it starts as this execution's
    last step) instead of releasing on here."""
    if result.outcome is not Outcome.MORE or (
            request.batches + 1 < batches_per_execution
            and request.loops + 1 < LOOPS_PER_EXECUTION):
        return result
    successor = _name_successor(request.endpoint, request.recovery_name, store)
    if successor is None:
        return result  # superseded meanwhile: the next batch finds out and hands over
    return ReleaseResult(outcome=Outcome.CONTINUE, successor=successor)


def _name_successor(endpoint: Endpoint, running: str, store: Store) -> str | None:
    successor = recovery_name(endpoint.tenant, endpoint.subscription_id)
    if not store.hand_over_recovery(endpoint.tenant, endpoint.subscription_id, running,
                                    successor):
        return None
    return successor
