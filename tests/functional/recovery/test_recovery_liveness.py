"""A dead recovery is replaced, not trusted: the liveness rules against emulated DynamoDB and
an in-memory Step Functions (DescribeExecution, StartExecution) whose executions the test
sets to any status."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from workflows.delivery.breaker import recovery_name
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import NotificationTarget, utc_now
from workflows.recovery.liveness import RecoveryLiveness, ensure_live_recovery
from workflows.recovery.outcomes import Endpoint
from workflows.storage import Store

pytestmark = pytest.mark.functional

MACHINE = "arn:aws:states:us-east-1:1:stateMachine:recovery"


class StepFunctions:
    """Executions by name → status; a throttle on demand."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.inputs: dict[str, dict] = {}
        self.throttled = False

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        if self.throttled:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                              "DescribeExecution")
        name = executionArn.rsplit(":", 1)[-1]
        if name not in self.status:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": name}},
                              "DescribeExecution")
        return {"executionArn": executionArn, "status": self.status[name]}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        assert stateMachineArn == MACHINE
        if name in self.status:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": name}},
                              "StartExecution")
        self.status[name], self.inputs[name] = "RUNNING", json.loads(input)
        return {"executionArn": f"{MACHINE}:{name}"}


def open_breaker(store: Store, tenant: str, subscription_id: str) -> str:
    name = recovery_name(tenant, subscription_id)
    store.record_endpoint_failure(tenant, subscription_id, "HTTP 503", utc_now(), counts=True)
    assert store.open_breaker(tenant, subscription_id, name, utc_now()) is not None
    return name


def park_one(store: Store, tenant: str, subscription_id: str, recovery: str) -> None:
    event_id = new_id("evt")
    target = NotificationTarget(tenant=tenant, event_id=event_id, subscription_id=subscription_id,
                                webhook_id=webhook_id(tenant, event_id, subscription_id),
                                execution_name=execution_name(event_id, subscription_id))
    store.create_notifications([target])
    assert store.park(target, recovery, utc_now())


@pytest.mark.parametrize("ended", ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"])
def test_parking_behind_an_ended_recovery_names_a_new_one(store: Store, ended: str) -> None:
    # Given an open breaker whose named recovery has ended
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    dead = open_breaker(store, tenant, subscription_id)
    sfn = StepFunctions()
    sfn.status[dead] = ended
    liveness = RecoveryLiveness(sfn, MACHINE, store)

    # When two notifications would park behind it, one after the other
    first = liveness.live_name(tenant, subscription_id, dead)
    second = liveness.live_name(tenant, subscription_id, dead)

    # Then the first records a new name in its place (the workflow then starts it), and the
    # second parks under that same new name (only one replacement is recorded)
    assert first != dead
    assert second == first
    assert store.endpoint_health(tenant, subscription_id).recovery == first


@pytest.mark.parametrize("state", ["RUNNING", None, "throttled"])
def test_a_running_a_not_yet_started_or_an_unknown_recovery_is_joined(
        store: Store, state: str | None) -> None:
    # Given an open breaker whose recovery runs, is not started yet, or cannot be asked about
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    named = open_breaker(store, tenant, subscription_id)
    sfn = StepFunctions()
    if state == "throttled":
        sfn.throttled = True
    elif state:
        sfn.status[named] = state

    # When a notification would park behind it
    joined = RecoveryLiveness(sfn, MACHINE, store).live_name(tenant, subscription_id, named)

    # Then it joins the named one (a throttled question never fails the park)
    assert joined == named
    assert store.endpoint_health(tenant, subscription_id).recovery == named


def test_a_running_recovery_takes_the_name_back_from_an_ended_successor(store: Store) -> None:
    # Given recovery r1 running, and r2 named in its place (by a re-enable) that has failed
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    first = open_breaker(store, tenant, subscription_id)
    second = recovery_name(tenant, subscription_id)
    assert store.hand_over_recovery(tenant, subscription_id, first, second)
    sfn = StepFunctions()
    sfn.status.update({first: "RUNNING", second: "FAILED"})
    endpoint = Endpoint(tenant=tenant, subscription_id=subscription_id)

    # When r1 finds r2 named: r1 goes on as the endpoint's recovery
    assert RecoveryLiveness(sfn, MACHINE, store).adopt(endpoint, first, second)
    assert store.endpoint_health(tenant, subscription_id).recovery == first
    # but a successor that runs, or is yet to start, is handed over to
    third = recovery_name(tenant, subscription_id)
    assert store.hand_over_recovery(tenant, subscription_id, first, third)
    assert not RecoveryLiveness(sfn, MACHINE, store).adopt(endpoint, first, third)
    sfn.status[third] = "RUNNING"
    assert not RecoveryLiveness(sfn, MACHINE, store).adopt(endpoint, first, third)


def test_the_reconciler_starts_a_recovery_only_where_none_lives(store: Store) -> None:
    sfn = StepFunctions()

    def ensure(tenant: str, subscription_id: str) -> bool:
        return ensure_live_recovery(tenant, subscription_id, store=store, sfn=sfn,
                                    recovery_state_machine_arn=MACHINE)

    # An endpoint with nothing open or parked: nothing to do
    assert not ensure("acme", new_id("sub"))

    # An ended recovery, with a notification parked: a new one, named and started
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    dead = open_breaker(store, tenant, subscription_id)
    park_one(store, tenant, subscription_id, dead)
    sfn.status[dead] = "ABORTED"
    assert ensure(tenant, subscription_id)
    new = store.endpoint_health(tenant, subscription_id).recovery
    assert new != dead and sfn.status[new] == "RUNNING"
    assert sfn.inputs[new] == {"endpoint": {"tenant": tenant, "subscription_id": subscription_id}}
    # and once it runs, nothing more
    assert not ensure(tenant, subscription_id)

    # A named recovery whose start never happened: started under its name
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    never = open_breaker(store, tenant, subscription_id)
    assert ensure(tenant, subscription_id)
    assert sfn.status[never] == "RUNNING"
    assert store.endpoint_health(tenant, subscription_id).recovery == never

    # A question Step Functions does not answer is the reconciler's to retry, not a guess
    sfn.throttled = True
    tenant, subscription_id = new_id("tenant"), new_id("sub")
    open_breaker(store, tenant, subscription_id)
    with pytest.raises(RuntimeError, match="could not tell"):
        ensure(tenant, subscription_id)
