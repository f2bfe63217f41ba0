"""PATCH status=active through the API: the breaker closes and a new recovery execution
replaces the endpoint's sleeping one, so what is parked is released at once."""

import json
from collections.abc import Iterator

import pytest

from tests.functional.api.api_harness import ApiEnv, api_env, json_of
from workflows.delivery.breaker import BreakerState, recovery_name
from workflows.delivery.executions import execution_arn
from workflows.kernel.models import SubscriptionStatus, utc_now

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def subscribe(env: ApiEnv, token: str) -> str:
    created = env.call("POST", "/subscriptions", token=token,
                       body={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
    assert created.status == 201, created.body
    return json_of(created)["id"]


def test_a_re_enable_starts_a_new_recovery_and_stops_the_old_one(env: ApiEnv):
    # Given a subscription disabled behind an open breaker, its recovery execution running
    token = env.token("acme", ["admin"])
    subscription_id = subscribe(env, token)
    store, sfn = env.store, env.client("stepfunctions")
    machine = env.resources.state_machine_arns["recovery"]
    old = recovery_name("acme", subscription_id)
    store.record_endpoint_failure("acme", subscription_id, "HTTP 503", utc_now(), counts=True)
    assert store.open_breaker("acme", subscription_id, old, utc_now()) is not None
    store.set_subscription_status("acme", subscription_id, SubscriptionStatus.DISABLED)
    endpoint = {"endpoint": {"tenant": "acme", "subscription_id": subscription_id}}
    sfn.start_execution(stateMachineArn=machine, name=old, input=json.dumps(endpoint))

    # When an admin re-enables it
    answer = env.call("PATCH", f"/subscriptions/{subscription_id}", token=token,
                      body={"status": "active"})

    # Then the breaker is closed under a new recovery, which runs; the old one is left to end
    # itself (a stop could cut it between a probe and the dead letters that probe decided)
    assert answer.status == 200, answer.body
    assert json_of(answer)["status"] == "active"
    health = store.endpoint_health("acme", subscription_id)
    assert health.breaker is BreakerState.CLOSED and health.recovery not in (None, old)
    new = sfn.describe_execution(executionArn=execution_arn(machine, health.recovery))
    assert new["status"] == "RUNNING"
    assert json.loads(new["input"]) == endpoint
    assert sfn.describe_execution(executionArn=execution_arn(machine, old))["status"] != \
        "ABORTED"


def test_a_re_enable_without_an_open_breaker_starts_nothing(env: ApiEnv):
    # Given a paused subscription (its endpoint healthy)
    token = env.token("globex", ["admin"])
    subscription_id = subscribe(env, token)
    env.call("PATCH", f"/subscriptions/{subscription_id}", token=token,
             body={"status": "paused"})
    sfn = env.client("stepfunctions")
    machine = env.resources.state_machine_arns["recovery"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])

    # When it is resumed
    answer = env.call("PATCH", f"/subscriptions/{subscription_id}", token=token,
                      body={"status": "active"})

    # Then no recovery starts: nothing is parked
    assert answer.status == 200
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before
    assert env.store.endpoint_health("globex", subscription_id).recovery is None
