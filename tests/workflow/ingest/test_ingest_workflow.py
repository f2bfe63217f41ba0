"""The ingest workflow: persist once, match, fan out; refused input goes to the ingress
dead-letter queue with the reason."""

import json
from datetime import datetime

import pytest

from tests.workflow.conftest import Workflows
from workflows.kernel.ids import execution_name, new_id

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


def test_an_event_without_tenant_ends_in_the_ingress_dead_letter_queue(flows: Workflows) -> None:
    flows.refused()  # Given an empty ingress dead-letter queue
    event = {"type": "order.created", "data": {}}

    # When the ingest refuses an event without a tenant
    arn = flows.publish(event)
    execution = flows.wait(arn)

    # Then the event as received, the reason and when are in the queue; the run ends there
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        **json.loads(execution["output"]), "outcome": "rejected",
        "reason": "invalid event: tenant: Field required"}
    assert flows.entered(arn) == ["PersistEvent", "Verdict", "RejectEvent", "Refused"]
    [letter] = flows.refused()
    assert letter["error"] == "Event.Invalid"
    assert letter["cause"] == "invalid event: tenant: Field required"
    assert letter["event"] == event
    assert letter["execution_arn"] == arn
    assert datetime.fromisoformat(letter["refused_at"]) >= execution["startDate"]
    assert "was not stored" in letter["refused"]
    # The attributes EventBridge puts on its own dead letters in the same queue
    assert letter["attributes"] == {"ERROR_CODE": "Event.Invalid",
                                    "ERROR_MESSAGE": "invalid event: tenant: Field required"}


@pytest.mark.parametrize(("payload", "reason"), [
    ("not an object", "must be a JSON object"),
    ({"tenant": "t1", "type": "order created", "data": {}}, "type: String should match"),
    ({"tenant": "t1", "type": "order.*", "data": {}}, "type: String should match"),
    ({"tenant": "t1", "type": "order.created", "data": [1]}, "data: Input should be"),
])
def test_malformed_events_are_dead_lettered_with_the_field_named(flows: Workflows, payload,
                                                                 reason) -> None:
    flows.refused()

    execution = flows.wait(flows.publish(payload))

    assert execution["status"] == "SUCCEEDED"
    [letter] = flows.refused()
    assert reason in letter["cause"]
    assert letter["event"] == payload


def test_a_refusal_the_queue_cannot_take_fails_the_execution_with_the_reason(
        flows: Workflows) -> None:
    # Given the ingress dead-letter queue is gone
    resources = flows.runtime.resources
    queue = resources.ingress_dead_letter_queue_url
    name = queue.rsplit("/", 1)[-1]
    attributes = flows.sqs.get_queue_attributes(QueueUrl=queue,
                                                AttributeNames=["MessageRetentionPeriod"])
    flows.sqs.delete_queue(QueueUrl=queue)
    try:
        # When an event without a tenant is refused
        arn = flows.publish({"type": "order.created", "data": {}})
        execution = flows.wait(arn)
    finally:
        flows.sqs.create_queue(QueueName=name, Attributes=attributes["Attributes"])

    # Then the execution fails with the reason: it is not silently lost
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Event.Invalid"
    assert execution["cause"] == "invalid event: tenant: Field required"
    assert flows.entered(arn)[-2:] == ["RejectEvent", "RefusedUndelivered"]


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


@pytest.mark.parametrize(("source", "detail", "reason"), [
    ("billing", {"data": {"amount": 7}}, "invalid event: detail.tenant: Field required"),
    ("tenant.acme", {"tenant": "globex", "data": {}},
     "the source 'tenant.acme' may publish only for tenant 'acme'"),
    ("billing", {"tenant": "acme", "data": "seven"},
     "invalid event: detail.data: Input should be a valid dictionary"),
])
def test_a_refused_eventbridge_event_lands_in_the_ingress_dead_letter_queue(
        flows: Workflows, source, detail, reason) -> None:
    flows.refused()
    events = flows.runtime.client("events")
    ingest = flows.runtime.resources.ingest_state_machine_arn

    # When an event the ingest refuses is put on the bus
    entry = events.put_events(Entries=[{
        "EventBusName": "stepwire", "Source": source, "DetailType": "invoice.paid",
        "Detail": json.dumps(detail)}])["Entries"][0]

    # Then its ingest ends after sending it to the ingress dead-letter queue with the reason
    name = execution_name("eventbridge", entry["EventId"])
    arn = ingest.replace(":stateMachine:", ":execution:") + f":{name}"
    assert flows.wait(arn, timeout=10)["status"] == "SUCCEEDED"
    [letter] = flows.refused()
    assert letter["cause"] == reason
    assert letter["attributes"]["ERROR_MESSAGE"] == reason
    # ... the EventBridge event as the bus delivered it
    assert letter["event"]["id"] == entry["EventId"]
    assert (letter["event"]["source"], letter["event"]["detail-type"]) == (source, "invoice.paid")
    assert letter["event"]["detail"] == detail


def test_an_accepted_event_leaves_the_ingress_dead_letter_queue_empty(flows: Workflows) -> None:
    flows.refused()
    subscription = flows.subscribe()
    event = flows.event()

    assert flows.wait(flows.publish(event))["status"] == "SUCCEEDED"

    assert flows.wait(flows.notification_arn(event["id"], subscription.id))["status"] == \
        "SUCCEEDED"
    assert flows.refused() == []
