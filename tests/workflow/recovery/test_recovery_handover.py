"""An endpoint's recovery handed to a fresh execution, on the engine: an admin's re-enable
releases what is parked at once (not at the recovery's next probe), and a backlog longer than
`recovery_batches_per_execution` batches is released across executions, one after another."""

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from stepwire.emulation.stepfunctions import clock
from tests.support.receiver import Answer
from tests.workflow.conftest import TIME_SCALE, Workflows
from tests.workflow.recovery.test_endpoint_health import (
    Switch,
    disabled_after_sustained_failure,
    eventually,
    publish_many,
    statuses,
)
from workflows import wiring
from workflows.delivery.executions import execution_arn
from workflows.kernel.models import SubscriptionStatus, utc_now
from workflows.operations.subscriptions import SubscriptionChanges, update_subscription

pytestmark = pytest.mark.workflow

# While the re-enable is measured, workflow waits pass 1,000 times slower than in the rest of
# the tier: the recovery's hourly probe is then 36 s away, far longer than a release takes.
SLOW_SCALE = 1e-2


@pytest.fixture
def slow_waits(settings) -> Iterator[None]:
    def slow() -> None:
        clock.set_time_scale(SLOW_SCALE)
        settings(time_scale=SLOW_SCALE)

    yield slow
    clock.set_time_scale(TIME_SCALE)


def recoveries_of(flows: Workflows, subscription_id: str) -> list[dict]:
    """The endpoint's recovery executions (described), oldest first."""
    resources = flows.runtime.resources
    assert resources is not None
    machine = resources.state_machine_arns["recovery"]
    found = []
    for listed in flows.sfn.list_executions(stateMachineArn=machine)["executions"]:
        described = flows.sfn.describe_execution(executionArn=listed["executionArn"])
        if json.loads(described["input"])["endpoint"]["subscription_id"] == subscription_id:
            found.append(described)
    return sorted(found, key=lambda e: e["startDate"])


def test_a_re_enable_releases_what_was_parked_before_the_next_probe(
        flows: Workflows, settings, slow_waits) -> None:
    # Given a subscription disabled after sustained failure, its notifications parked
    switch, subscription, event_ids = disabled_after_sustained_failure(flows, settings, 6)
    store = wiring.store()
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == 6,
               what="every notification parked")
    # and its recovery asleep until a probe at least 1,000 workflow seconds away
    slow_waits()

    def probe_far_away() -> bool:
        health = store.endpoint_health(flows.tenant, subscription.id)
        return health.next_probe_at is not None and \
            health.next_probe_at - utc_now() > timedelta(seconds=1000 * SLOW_SCALE)

    eventually(probe_far_away, what="the recovery in a long wait")
    before = store.endpoint_health(flows.tenant, subscription.id)
    resources = flows.runtime.resources
    assert resources is not None
    old_arn = execution_arn(resources.state_machine_arns["recovery"], before.recovery)

    # When the endpoint is back and an admin re-enables the subscription
    switch.up.set()
    started, reenabled_at = time.monotonic(), utc_now()
    update_subscription(flows.tenant, subscription.id,
                        SubscriptionChanges(status=SubscriptionStatus.ACTIVE), store=store,
                        policy=wiring.target_policy(),
                        recoveries=wiring.recovery_executions())

    # Then the old recovery is not stopped (it ends itself at its next step, superseded)
    assert flows.sfn.describe_execution(executionArn=old_arn)["status"] == "RUNNING"
    # and what was parked is delivered, once each, well before its next probe would have been
    eventually(lambda: statuses(flows, event_ids) == {"delivered": 6}, timeout=60,
               what="the parked notifications delivered")
    elapsed = time.monotonic() - started
    assert utc_now() < before.next_probe_at
    workflow_seconds = elapsed / SLOW_SCALE
    until_probe = (before.next_probe_at - reenabled_at).total_seconds() / SLOW_SCALE
    print(f"re-enable → 6 parked delivered in {elapsed:.2f} s: {workflow_seconds:.0f} s of "
          f"workflow time; the next probe was {until_probe:.0f} s of workflow time away")
    assert workflow_seconds < 3600 / 2
    assert sorted(switch.accepted.values()) == [1] * 6, "each accepted once"
    # by one new recovery, which ends once nothing is parked
    executions = recoveries_of(flows, subscription.id)
    assert [e["executionArn"] for e in executions].count(old_arn) == 1
    new = [e for e in executions if e["executionArn"] != old_arn]
    assert len(new) == 1
    assert flows.wait(new[0]["executionArn"])["status"] == "SUCCEEDED"
    assert "Release" not in flows.entered(old_arn)[-3:]
    health = store.endpoint_health(flows.tenant, subscription.id)
    assert (health.breaker.value, health.recovery, health.disabled_reason) == (
        "closed", None, None)


def test_a_backlog_longer_than_n_batches_is_released_across_executions_one_at_a_time(
        flows: Workflows, settings) -> None:
    # Given a recovery that hands over after 2 release batches of 2 notifications
    batches_per_execution, rate = 2, 2
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=10**9,
             breaker_failure_threshold=3, release_rate_per_second=rate,
             recovery_batches_per_execution=batches_per_execution)
    switch = Switch(Answer(status=503))
    flows.receiver.script = switch
    subscription = flows.subscribe()
    store = wiring.store()
    # and a backlog of 13 parked notifications (the probe delivers one, 6 batches remain)
    event_ids = publish_many(flows, 13)
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == 13,
               what="every notification parked",
               progress=lambda: store.parked_count(flows.tenant, subscription.id))

    # When the endpoint recovers
    switch.up.set()

    # Then every notification is delivered, once each
    eventually(lambda: statuses(flows, event_ids) == {"delivered": 13},
               what="every notification delivered", progress=lambda: statuses(flows, event_ids))
    assert sorted(switch.accepted.values()) == [1] * 13, "each accepted once"
    eventually(lambda: all(e["status"] != "RUNNING"
                           for e in recoveries_of(flows, subscription.id)),
               what="the last recovery ended")
    # across four executions, each releasing at most 2 batches, all ended
    executions = recoveries_of(flows, subscription.id)
    assert [e["status"] for e in executions] == ["SUCCEEDED"] * 4
    releases = [flows.entered(e["executionArn"]).count("Release") for e in executions]
    assert releases == [2, 2, 2, 1], releases
    # one after another: each started by its predecessor's last step, after its last batch
    overlaps = []
    for before, after in zip(executions, executions[1:], strict=False):
        history = flows.history(before["executionArn"])
        entered = [(e["stateEnteredEventDetails"]["name"], e["timestamp"]) for e in history
                   if "stateEnteredEventDetails" in e]
        assert [name for name, _ in entered[-2:]] == ["HandOver", "HandedOver"]
        assert after["startDate"] >= entered[-2][1]
        overlaps.append((before["stopDate"] - after["startDate"]).total_seconds())
    print(f"hand-overs: the predecessor ended {', '.join(f'{o * 1000:.0f}' for o in overlaps)}"
          " ms after its successor started (its HandOver state)")
    assert store.endpoint_health(flows.tenant, subscription.id).recovery is None
    assert store.parked_count(flows.tenant, subscription.id) == 0
