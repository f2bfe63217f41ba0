"""The ingest workflow: persist once, match, fan out; bad input fails clearly."""

import json

import pytest

from tests.workflow.conftest import Workflows
from workflows.ids import execution_name, new_id

pytestmark = pytest.mark.workflow


def test_fan_out_follows_each_subscriptions_filter(flows: Workflows) -> None:
    exact = flows.subscribe("/exact", ["order.created"])
    prefix = flows.subscribe("/prefix", ["order.*"])
    everything = flows.subscribe("/all", ["*"])
    flows.subscribe("/invoices", ["invoice.*"])
    flows.subscribe("/other-order", ["order.cancelled"])
    event = flows.event("order.created")

    ingest = flows.wait(flows.publish(event))

    assert ingest["status"] == "SUCCEEDED"
    for subscription in (exact, prefix, everything):
        arn = flows.notification_arn(event["id"], subscription.id)
        assert flows.wait(arn)["status"] == "SUCCEEDED"
    for path in ("/exact", "/prefix", "/all"):
        [request] = flows.receiver.wait_for(path, 1)
        assert request.verified
        assert request.payload["id"] == event["id"]
    assert "/invoices" not in flows.receiver.requests
    assert "/other-order" not in flows.receiver.requests
    webhook_ids = {flows.receiver.requests[p][0].headers["webhook-id"]
                   for p in ("/exact", "/prefix", "/all")}
    assert len(webhook_ids) == 3, "one webhook-id per event and subscription"
    _, notifications = flows.notification(event["id"])
    assert sorted(n.subscription_id for n in notifications) == sorted(
        [exact.id, prefix.id, everything.id])
    assert {n.status for n in notifications} == {"delivered"}


def test_duplicate_event_id_is_a_successful_no_op(flows: Workflows) -> None:
    subscription = flows.subscribe()
    event = flows.event()
    first = flows.wait(flows.publish(event))
    assert flows.wait(flows.notification_arn(event["id"], subscription.id))["status"] == "SUCCEEDED"

    again = flows.publish(event)  # same event id, another ingest execution
    second = flows.wait(again)

    assert first["status"] == second["status"] == "SUCCEEDED"
    assert json.loads(second["output"])["outcome"] == "duplicate"
    entered = [e["stateEnteredEventDetails"]["name"] for e in flows.history(again)
               if "stateEnteredEventDetails" in e]
    assert entered == ["PersistEvent", "Verdict", "Duplicate"]
    assert len(flows.receiver.wait_for("/hook", 1)) == 1
    _, [notification] = flows.notification(event["id"])
    assert len(notification.attempts) == 1


def test_event_without_tenant_fails_with_a_clear_reason(flows: Workflows) -> None:
    execution = flows.wait(flows.publish({"type": "order.created", "data": {}}))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Event.Invalid"
    assert execution["cause"] == "invalid event: tenant: Field required"


@pytest.mark.parametrize(("payload", "reason"), [
    ("not an object", "must be a JSON object"),
    ({"tenant": "t1", "type": "order created", "data": {}}, "type: String should match"),
    ({"tenant": "t1", "type": "order.*", "data": {}}, "type: String should match"),
    ({"tenant": "t1", "type": "order.created", "data": [1]}, "data: Input should be"),
])
def test_malformed_events_fail_with_the_field_named(flows: Workflows, payload, reason) -> None:
    execution = flows.wait(flows.publish(payload))

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Event.Invalid"
    assert reason in execution["cause"]


def test_eventbridge_ingress_delivers(flows: Workflows) -> None:
    flows.subscribe(event_types=["invoice.paid"])
    events = flows.runtime.client("events")
    event_id = new_id("evt")

    events.put_events(Entries=[{
        "EventBusName": "stepwire", "Source": "billing", "DetailType": "invoice.paid",
        "Detail": json.dumps({"tenant": flows.tenant, "id": event_id, "data": {"amount": 7}}),
    }])

    [request] = flows.receiver.wait_for("/hook", 1)
    assert request.verified
    assert request.payload["id"] == event_id
    assert request.payload["type"] == "invoice.paid"
    assert request.payload["data"] == {"amount": 7}


def test_malformed_eventbridge_event_is_a_recorded_failure(flows: Workflows) -> None:
    events = flows.runtime.client("events")
    sfn = flows.sfn
    ingest = flows.runtime.resources.ingest_state_machine_arn

    entry = events.put_events(Entries=[{
        "EventBusName": "stepwire", "Source": "billing", "DetailType": "invoice.paid",
        "Detail": json.dumps({"data": {"amount": 7}}),  # no tenant
    }])["Entries"][0]

    name = execution_name("eventbridge", entry["EventId"])
    arn = ingest.replace(":stateMachine:", ":execution:") + f":{name}"
    execution = flows.wait(arn, timeout=10)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Event.Invalid"
    assert "tenant" in execution["cause"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
