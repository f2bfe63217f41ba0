"""Handing an endpoint's recovery to a fresh execution, so that one execution acts at a time.

The endpoint's health item names its one recovery execution; only that one acts (a recovery
that finds another name there hands over to it and ends, workflows/recovery/release.py). The name
changes in two cases:
- an admin re-enables the subscription (`PATCH status=active`): the breaker closes and a new
  recovery starts at once to release what is parked, instead of the old one doing it at its
  next probe (up to an hour away); the old one is left to end itself at its next step (a
  stop could cut it between a probe and the dead letters that probe decided);
- continue-as-new: after `recovery_batches_per_execution` release batches the recovery names
  its successor and starts it as its last step (a Standard history holds 25,000 events).
"""

import json
from typing import Any

from workflows.delivery.breaker import recovery_name
from workflows.recovery.release import Endpoint, Outcome, ReleaseRequest, ReleaseResult
from workflows.storage import Store


class RecoveryExecutions:
    """Starts executions of the recovery workflow."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn

    def start(self, name: str, endpoint: Endpoint) -> None:
        # The input the workflows give it (StartRecovery): only the endpoint.
        self._sfn.start_execution(stateMachineArn=self._machine, name=name, input=json.dumps(
            {"endpoint": endpoint.model_dump(mode="json")}, separators=(",", ":")))


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


def continue_as_new_if_due(request: ReleaseRequest, result: ReleaseResult, *, store: Store,
                           batches_per_execution: int) -> ReleaseResult:
    """After the batch that makes `batches_per_execution`, with more parked: name a successor
    (it starts as this execution's last step) instead of releasing on here."""
    if result.outcome is not Outcome.MORE or request.batches + 1 < batches_per_execution:
        return result
    endpoint = request.endpoint
    successor = recovery_name(endpoint.tenant, endpoint.subscription_id)
    if not store.hand_over_recovery(endpoint.tenant, endpoint.subscription_id,
                                    request.recovery_name, successor):
        return result  # superseded meanwhile: the next batch finds out and hands over
    return ReleaseResult(outcome=Outcome.CONTINUE, successor=successor)
