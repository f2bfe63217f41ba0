"""A dead recovery is replaced, not trusted.

The endpoint's health item names its one recovery execution; parking, the probe, the release
and the hand-over all trust that name. An execution that failed, timed out or was stopped
while still named would leave every parked notification of the endpoint (and every later
one) waiting for ever. So whoever would start or join the named recovery first asks Step
Functions whether it runs:

- the Park path (workflows/delivery/long_tail_handoff.py, through `live_name`): an ended one is
  replaced by a new name, recorded with a conditional write; the workflow's StartRecovery then
  starts that name;
- a running recovery that finds an ended one named in its place takes the name back (`adopt`);
- the scheduled reconciler (`ensure_live_recovery`) starts one for an endpoint that has
  parked notifications or an open breaker and no live recovery.

A name not started yet (named a moment before its StartRecovery) counts as live: that start
is on its way, and starting it is what the Park path does next anyway.
"""

import json
import time
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from workflows.delivery.breaker import recovery_name
from workflows.delivery.executions import execution_arn
from workflows.kernel.observability import logger
from workflows.recovery.outcomes import Endpoint
from workflows.storage import Store

# How long a recovery seen running is trusted without asking again, per process (a park per
# notification would otherwise ask Step Functions once per notification); scaled locally.
TRUST_RUNNING_SECONDS = 60.0
_seen_running: dict[str, float] = {}  # execution ARN → until when (monotonic)


class ExecutionState(StrEnum):
    RUNNING = "running"
    NOT_STARTED = "not_started"  # named, its start on its way
    ENDED = "ended"  # succeeded, failed, timed out, aborted (or waiting for a redrive)
    UNKNOWN = "unknown"  # Step Functions did not say (a throttle): trusted


class RecoveryExecutions:
    """Starts executions of the recovery workflow."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn

    def start(self, name: str, endpoint: Endpoint) -> None:
        # The input the workflows give it (StartRecovery): only the endpoint.
        self._sfn.start_execution(stateMachineArn=self._machine, name=name, input=json.dumps(
            {"endpoint": endpoint.model_dump(mode="json")}, separators=(",", ":")))


class RecoveryLiveness:
    """Whether the endpoint's named recovery runs, and its replacement when it does not."""

    def __init__(self, sfn: Any, state_machine_arn: str, store: Store, *,
                 trust_running_seconds: float = 0.0) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn
        self._store = store
        self._trust = trust_running_seconds

    def state(self, name: str) -> ExecutionState:
        arn = execution_arn(self._machine, name)
        if _seen_running.get(arn, 0.0) > time.monotonic():
            return ExecutionState.RUNNING
        try:
            status = self._sfn.describe_execution(executionArn=arn)["status"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return ExecutionState.NOT_STARTED
            logger.warning("could not tell whether the recovery runs; trusted",
                           extra={"execution": name, "error": str(exc)})
            return ExecutionState.UNKNOWN
        if status != "RUNNING":
            return ExecutionState.ENDED
        if self._trust:
            if len(_seen_running) > 4096:
                _seen_running.clear()
            _seen_running[arn] = time.monotonic() + self._trust
        return ExecutionState.RUNNING

    def live_name(self, tenant: str, subscription_id: str, named: str) -> str:
        """The recovery to park under: `named`, or (when it has ended) the new name recorded
        in its place; the caller starts it."""
        if self.state(named) is not ExecutionState.ENDED:
            return named
        successor = recovery_name(tenant, subscription_id)
        if self._store.hand_over_recovery(tenant, subscription_id, named, successor):
            logger.warning("the endpoint's recovery had ended: a new one replaces it", extra={
                "tenant": tenant, "subscription_id": subscription_id, "ended": named,
                "recovery": successor})
            return successor
        # Replaced meanwhile by another park (or it ended on its own): park under that one.
        return self._store.endpoint_health(tenant, subscription_id).recovery or named

    def adopt(self, endpoint: Endpoint, running: str, named: str | None) -> bool:
        """`running` (this very execution) found `named` in its place: when that one has
        ended, take the name back and carry on as the endpoint's recovery."""
        if named is None or self.state(named) is not ExecutionState.ENDED:
            return False
        adopted = self._store.hand_over_recovery(endpoint.tenant, endpoint.subscription_id,
                                                 named, running)
        if adopted:
            logger.warning("the recovery named in this one's place had ended: this one goes on",
                           extra={"ended": named, "recovery": running})
        return adopted


def ensure_live_recovery(tenant: str, subscription_id: str, *, store: Store, sfn: Any,
                         recovery_state_machine_arn: str) -> bool:
    """For the reconciler: an endpoint with parked notifications or an open breaker gets a
    running recovery. True when one had to be started (a fault survived): a new name when
    the named one has ended (or none is named), the named one when it was never started.
    A Step Functions error other than "does not exist" is raised: the next run tries again."""
    health = store.endpoint_health(tenant, subscription_id)
    if not health.is_open and not store.oldest_parked(tenant, subscription_id, limit=1):
        return False  # nothing waits on a recovery
    liveness = RecoveryLiveness(sfn, recovery_state_machine_arn, store)
    named = health.recovery
    if named is None:
        name = recovery_name(tenant, subscription_id)
        if not store.name_recovery(tenant, subscription_id, name):
            return False  # named meanwhile: whoever named it starts it
    else:
        state = liveness.state(named)
        if state is ExecutionState.RUNNING:
            return False
        if state is ExecutionState.UNKNOWN:
            raise RuntimeError(f"could not tell whether the recovery {named} runs")
        name = named
        if state is ExecutionState.ENDED:
            name = recovery_name(tenant, subscription_id)
            if not store.hand_over_recovery(tenant, subscription_id, named, name):
                return False  # replaced meanwhile: whoever replaced it starts it
    try:
        RecoveryExecutions(sfn, recovery_state_machine_arn).start(
            name, Endpoint(tenant=tenant, subscription_id=subscription_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return False  # started meanwhile by the Park path
    logger.warning("started a recovery for an endpoint that had none running", extra={
        "tenant": tenant, "subscription_id": subscription_id, "recovery": name,
        "replaced": named})
    return True
