"""Acceptance and fan-out: an event stored once, then one notification per matching
subscription, a page at a time (the acceptance fans out the first page, the ingest workflow
the rest); refused input goes to the ingress dead-letter queue with the reason."""

import json
import time
from datetime import datetime

import pytest

from tests.workflow.conftest import Workflows
from workflows import wiring
from workflows.ingest import fan_out
from workflows.kernel.ids import new_id

pytestmark = pytest.mark.workflow


def test_fan_out_follows_each_subscriptions_filter(flows: Workflows) -> None:
    exact = flows.subscribe("/exact", ["order.created"])
    prefix = flows.subscribe("/prefix", ["order.*"])
    everything = flows.subscribe("/all", ["*"])
    flows.subscribe("/invoices", ["invoice.*"])
    flows.subscribe("/other-order", ["order.cancelled"])
    event = flows.event("order.created")

    assert flows.publish(event) == {"batchItemFailures": []}

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


def test_duplicate_event_id_is_a_no_op(flows: Workflows) -> None:
    subscription = flows.subscribe()
    event = flows.event()
    flows.publish(event)
    assert flows.wait(flows.notification_arn(event["id"], subscription.id))["status"] == \
        "SUCCEEDED"

    # The same id again, from another acceptance, with other data
    assert flows.publish({**event, "data": {"other": True}}) == {"batchItemFailures": []}

    time.sleep(0.3)
    assert len(flows.receiver.wait_for("/hook", 1)) == 1
    stored, [notification] = flows.notification(event["id"])
    assert stored.data == event["data"], "the first event stays"
    assert len(notification.attempts) == 1


def test_an_event_without_tenant_ends_in_the_ingress_dead_letter_queue(flows: Workflows) -> None:
    flows.refused()  # Given an empty ingress dead-letter queue
    event = {"type": "order.created", "data": {}}
    before = datetime.now().astimezone()

    # When the ingress refuses an event without a tenant
    assert flows.publish(event) == {"batchItemFailures": []}

    # Then the event as received, the reason and when are in the queue; nothing is stored
    [letter] = flows.refused()
    assert letter["error"] == "Event.Invalid"
    assert letter["cause"] == "invalid event: tenant: Field required"
    assert letter["event"] == event
    assert letter["message_id"]
    assert datetime.fromisoformat(letter["refused_at"]) >= before
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

    assert flows.publish(payload) == {"batchItemFailures": []}

    [letter] = flows.refused()
    assert reason in letter["cause"]
    assert letter["event"] == payload


def test_raw_bytes_are_refused_as_they_came(flows: Workflows) -> None:
    flows.refused()
    assert flows.publish_body("\x00\x01 not json {") == {"batchItemFailures": []}
    [letter] = flows.refused()
    assert letter["event"] == "\x00\x01 not json {"
    assert "JSON object" in letter["cause"]


def test_a_refusal_the_queue_cannot_take_stays_on_the_ingress_queue(flows: Workflows) -> None:
    # Given the ingress dead-letter queue is gone
    resources = flows.runtime.resources
    queue = resources.ingress_dead_letter_queue_url
    name = queue.rsplit("/", 1)[-1]
    attributes = flows.sqs.get_queue_attributes(QueueUrl=queue,
                                                AttributeNames=["MessageRetentionPeriod"])
    flows.sqs.delete_queue(QueueUrl=queue)
    try:
        # When an event without a tenant is refused
        answer = flows.publish({"type": "order.created", "data": {}})
    finally:
        flows.sqs.create_queue(QueueName=name, Attributes=attributes["Attributes"])

    # Then the consumer does not take the message (its only record failed: the invocation
    # fails): it stays on the ingress queue for another try, and that queue's own dead-letter
    # queue after that; it is not silently lost
    assert answer["functionError"]["errorType"] == "BatchProcessingError"


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


def _refused_eventually(flows: Workflows, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if letters := flows.refused():
            return letters
        time.sleep(0.05)
    return []


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

    # When an event the ingress refuses is put on the bus
    entry = events.put_events(Entries=[{
        "EventBusName": "stepwire", "Source": source, "DetailType": "invoice.paid",
        "Detail": json.dumps(detail)}])["Entries"][0]

    # Then it is sent to the ingress dead-letter queue with the reason
    [letter] = _refused_eventually(flows)
    assert letter["cause"] == reason
    assert letter["attributes"]["ERROR_MESSAGE"] == reason
    # ... the EventBridge event as the bus delivered it
    assert letter["event"]["id"] == entry["EventId"]
    assert (letter["event"]["source"], letter["event"]["detail-type"]) == (source, "invoice.paid")
    assert letter["event"]["detail"] == detail


def test_a_large_non_ascii_eventbridge_event_is_measured_as_stored(flows: Workflows) -> None:
    """70,000 CJK characters are 210,000 bytes of UTF-8 (escaped they would be 420,000): over
    the 128 KiB data limit, refused with its size in the reason, never accepted and lost."""
    flows.refused()
    flows.subscribe()
    events = flows.runtime.client("events")
    data = {"text": "漢" * 70_000}
    detail = json.dumps({"tenant": flows.tenant, "id": new_id("evt"), "data": data},
                        ensure_ascii=False)

    entry = events.put_events(Entries=[{
        "EventBusName": "stepwire", "Source": "billing", "DetailType": "order.created",
        "Detail": detail}])["Entries"][0]

    assert "EventId" in entry, entry
    [letter] = _refused_eventually(flows)
    assert letter["cause"] == "'data' is 210011 bytes; the limit is 131072 bytes"
    assert letter["event"]["detail"]["data"] == data


def test_a_large_non_ascii_event_within_the_limit_is_delivered(flows: Workflows) -> None:
    """40,000 CJK characters: 120 KB stored (240 KB escaped, which the limit would refuse)."""
    flows.subscribe()
    event = flows.event(text="漢" * 40_000)
    flows.publish(event)
    [request] = flows.receiver.wait_for("/hook", 1)
    assert request.verified and request.payload["data"] == event["data"]


def test_an_accepted_event_leaves_the_ingress_dead_letter_queue_empty(flows: Workflows) -> None:
    flows.refused()
    subscription = flows.subscribe()
    event = flows.event()

    flows.publish(event)

    assert flows.wait(flows.notification_arn(event["id"], subscription.id))["status"] == \
        "SUCCEEDED"
    assert flows.refused() == []


def test_a_fan_out_past_one_page_continues_in_the_ingest_workflow(flows: Workflows) -> None:
    """More subscriptions than the acceptance's page: the rest is walked by the ingest
    workflow, a page per task, no payload holding every target."""
    count = fan_out.INLINE_PAGE + fan_out.WORKFLOW_PAGE + 7
    subscriptions = {flows.subscribe(f"/s{i}", ["order.*"]).id for i in range(count)}
    event = flows.event()

    flows.publish(event)

    requests = [r for i in range(count) for r in flows.receiver.wait_for(f"/s{i}", 1, 60)]
    assert all(r.verified and r.payload["id"] == event["id"] for r in requests)
    assert len({r.headers["webhook-id"] for r in requests}) == count
    _, notifications = flows.notification(event["id"])
    assert {n.subscription_id for n in notifications} == subscriptions
    [run] = flows.fan_out_runs(event["id"])
    assert flows.wait(run)["status"] == "SUCCEEDED"
    pages = flows.state_inputs(run, "FanOutPage")
    assert len(pages) == 2 and pages[0]["after"] is not None
    assert wiring.store().get_event(flows.tenant, event["id"]) is not None


def test_a_long_fan_out_continues_in_a_new_run(flows: Workflows,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its pages per run an ingest run hands the rest to a new one (Express's 5 minutes
    bound a run, not a fan-out): here one page per run."""
    monkeypatch.setattr(fan_out, "PAGES_PER_RUN", 1)
    count = fan_out.INLINE_PAGE + fan_out.WORKFLOW_PAGE + 7
    for i in range(count):
        flows.subscribe(f"/r{i}", ["order.*"])
    event = flows.event()

    flows.publish(event)

    requests = [r for i in range(count) for r in flows.receiver.wait_for(f"/r{i}", 1, 60)]
    assert len({r.headers["webhook-id"] for r in requests}) == count
    runs = flows.fan_out_runs(event["id"])
    assert [flows.wait(run)["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [p["after"] is None for run in runs
            for p in flows.state_inputs(run, "FanOutPage")] == [False, False]
