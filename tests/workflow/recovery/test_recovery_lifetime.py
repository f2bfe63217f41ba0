"""A recovery's life past AWS's limits, on the engine (which fails a Standard execution at its
25,000th history event, as AWS does): a recovery that loops for longer than one history can
hold continues as new, and a recovery that was stopped while still named on its endpoint's
health item is replaced, so what it held parked is delivered."""

import json
from collections.abc import Iterator

import pytest

from stepwire.emulation.stepfunctions import clock
from tests.support.receiver import Answer
from tests.workflow.conftest import TIME_SCALE, Workflows
from tests.workflow.recovery.test_endpoint_health import Switch, eventually, statuses
from tests.workflow.recovery.test_recovery_handover import recoveries_of
from workflows import wiring
from workflows.delivery.breaker import recovery_name
from workflows.delivery.executions import execution_arn
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import Event, NotificationTarget, SubscriptionStatus, utc_now
from workflows.recovery.liveness import ensure_live_recovery
from workflows.recovery.outcomes import (
    EVENTS_PER_LOOP_AT_MOST,
    HISTORY_EVENTS_LIMIT,
    LOOPS_PER_EXECUTION,
)

pytestmark = pytest.mark.workflow

# The disabled endpoint's hourly probe, 100 million times shorter: the loop runs as fast as
# its Probe task does.
FAST_SCALE = 1e-8


@pytest.fixture
def fast_waits() -> Iterator[None]:
    clock.set_time_scale(FAST_SCALE)
    yield
    clock.set_time_scale(TIME_SCALE)


def parked_behind_open_breaker(flows: Workflows, subscription_id: str, count: int) -> str:
    """`count` notifications parked behind the endpoint's open breaker, which names a recovery
    not started yet: its name."""
    store, tenant, now = wiring.store(), flows.tenant, utc_now()
    name = recovery_name(tenant, subscription_id)
    store.record_endpoint_failure(tenant, subscription_id, "HTTP 503", now, counts=True)
    assert store.open_breaker(tenant, subscription_id, name, now) is not None
    for n in range(count):
        event = Event(id=new_id("evt"), tenant=tenant, type="order.created", data={"n": n},
                      created_at=utc_now())
        store.put_event_if_new(event, "test")
        target = NotificationTarget(
            tenant=tenant, event_id=event.id, subscription_id=subscription_id,
            webhook_id=webhook_id(tenant, event.id, subscription_id),
            execution_name=execution_name(event.id, subscription_id))
        store.create_notifications([target])
        assert store.park(target, name, event.created_at)
    return name


def start_recovery(flows: Workflows, subscription_id: str, name: str) -> str:
    resources = flows.runtime.resources
    assert resources is not None
    return flows.sfn.start_execution(
        stateMachineArn=resources.state_machine_arns["recovery"], name=name,
        input=json.dumps({"endpoint": {"tenant": flows.tenant,
                                       "subscription_id": subscription_id}}))["executionArn"]


def test_a_recovery_that_would_outgrow_its_history_continues_as_new(
        flows: Workflows, settings, fast_waits) -> None:
    # Given a disabled endpoint (its recovery probes hourly for ever, waiting for a re-enable
    # or the end of a retry window longer than the test), with a notification parked
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=10**9)
    subscription = flows.subscribe()
    name = parked_behind_open_breaker(flows, subscription.id, 1)
    wiring.store().set_subscription_status(flows.tenant, subscription.id,
                                           SubscriptionStatus.DISABLED)

    # When its recovery has looped for longer than one execution's history could hold
    first = start_recovery(flows, subscription.id, name)

    def ended() -> list[dict]:
        return [e for e in recoveries_of(flows, subscription.id) if e["status"] != "RUNNING"]

    try:
        eventually(lambda: bool(ended()), timeout=300, what="the first hand-over")
        per_execution = len(flows.history(first))
        needed = HISTORY_EVENTS_LIMIT // per_execution + 1
        eventually(lambda: len(ended()) >= needed, timeout=600,
                   what=f"{needed} executions", progress=lambda: len(ended()))
    finally:
        for running in recoveries_of(flows, subscription.id):
            if running["status"] == "RUNNING":
                flows.sfn.stop_execution(executionArn=running["executionArn"])
    done = ended()[:needed]

    # Then it ran as a chain of executions, the first one the one started, each ended by
    # handing over to the next after its 600 loops, none failed, each far within the limit
    assert done[0]["executionArn"] == first
    lengths = []
    for execution in done:
        history = flows.history(execution["executionArn"])
        lengths.append(len(history))
        assert execution["status"] == "SUCCEEDED", execution["executionArn"]
        assert flows.entered(execution["executionArn"])[-2:] == ["HandOver", "HandedOver"]
        assert flows.entered(execution["executionArn"]).count("Probe") == LOOPS_PER_EXECUTION
        assert len(history) <= LOOPS_PER_EXECUTION * EVENTS_PER_LOOP_AT_MOST + 30
    print(f"{len(done)} executions of {', '.join(map(str, lengths))} history events "
          f"({sum(lengths)} in all, more than the {HISTORY_EVENTS_LIMIT} one could hold)")
    assert len(done) >= 2 and sum(lengths) > HISTORY_EVENTS_LIMIT
    assert max(lengths) < HISTORY_EVENTS_LIMIT / 2


@pytest.mark.parametrize("replaced_by", ["a later park", "the reconciler"])
def test_a_stopped_recovery_is_replaced_and_its_parked_notifications_delivered(
        flows: Workflows, settings, replaced_by: str) -> None:
    # Given an endpoint that answers again, 3 notifications parked behind its open breaker,
    # and its recovery stopped (an operator, a deployment) while still named on the breaker
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=10**9)
    switch = Switch(Answer(status=503))
    switch.up.set()
    flows.receiver.script = switch
    subscription = flows.subscribe()
    store = wiring.store()
    name = parked_behind_open_breaker(flows, subscription.id, 3)
    # (stopped in its first wait, 5 s of workflow time made 0.5 s here: before it probes)
    clock.set_time_scale(0.1)
    try:
        stopped = start_recovery(flows, subscription.id, name)
        eventually(lambda: "WaitBeforeProbe" in flows.entered(stopped), what="the first wait")
        flows.sfn.stop_execution(executionArn=stopped)
        assert flows.wait(stopped)["status"] == "ABORTED"
    finally:
        clock.set_time_scale(TIME_SCALE)
    assert store.endpoint_health(flows.tenant, subscription.id).recovery == name
    event_ids = [p.notification.event_id for _, p in
                 store.oldest_parked(flows.tenant, subscription.id, limit=10)]

    # When another notification parks behind the breaker (its StartRecovery would only find
    # the stopped execution), or the reconciler looks at the endpoint
    if replaced_by == "a later park":
        event = flows.event()
        flows.publish(event)
        event_ids.append(event["id"])
    else:
        resources = flows.runtime.resources
        assert resources is not None
        assert ensure_live_recovery(
            flows.tenant, subscription.id, store=store, sfn=flows.sfn,
            recovery_state_machine_arn=resources.state_machine_arns["recovery"])

    # Then a new recovery replaces it, and every parked notification is delivered, once each
    eventually(lambda: statuses(flows, event_ids) == {"delivered": len(event_ids)},
               timeout=120, what="the parked notifications delivered",
               progress=lambda: statuses(flows, event_ids))
    assert sorted(switch.accepted.values()) == [1] * len(event_ids), "each accepted once"
    executions = recoveries_of(flows, subscription.id)
    assert [e["executionArn"] for e in executions][0] == stopped
    replacement = executions[1]
    assert replacement["executionArn"] != execution_arn(
        flows.runtime.resources.state_machine_arns["recovery"], name)
    assert flows.wait(replacement["executionArn"])["status"] == "SUCCEEDED"
    eventually(lambda: store.endpoint_health(flows.tenant, subscription.id).recovery is None,
               what="the recovery finished")
    assert store.parked_count(flows.tenant, subscription.id) == 0
