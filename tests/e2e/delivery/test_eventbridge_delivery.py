"""Events in through the EventBridge API of `stepwire local`, webhooks out over real HTTP."""

import json
import time

import pytest

from tests.e2e.conftest import LocalProcess
from tests.support.receiver import Receiver
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.operations.subscriptions import NewSubscription, create_subscription

pytestmark = pytest.mark.e2e


def wait_until(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def test_banner_names_the_endpoints_and_the_target_policy(local: LocalProcess) -> None:
    assert local.aws_endpoint in local.banner
    assert local.api_url in local.banner
    assert f"{local.api_url}/console/" in local.banner
    assert "loopback and private targets ALLOWED" in local.banner


def test_put_events_to_signed_verified_webhooks(local: LocalProcess) -> None:
    tenant = new_id("t")
    with Receiver() as receiver:
        subscription = create_subscription(
            tenant, NewSubscription(url=receiver.url(), event_types=["order.*"]),
            store=wiring.store(), policy=wiring.target_policy())
        receiver.secrets["/hook"] = subscription.secret
        events = local.client("events")
        ids = [new_id("evt") for _ in range(5)]

        response = events.put_events(Entries=[{
            "EventBusName": "stepwire", "Source": "shop", "DetailType": "order.created",
            "Detail": json.dumps({"tenant": tenant, "id": event_id, "data": {"n": n}}),
        } for n, event_id in enumerate(ids)])

        assert response["FailedEntryCount"] == 0
        requests = receiver.wait_for("/hook", 5)
    assert all(r.verified for r in requests), "every request verifies with standardwebhooks"
    assert sorted(r.payload["id"] for r in requests) == sorted(ids)

    # Every notification is a Step Functions execution, visible to any AWS client.
    sfn = local.client("stepfunctions")
    machine = local.arn("stateMachine", "stepwire-notification")
    names = {f"{event_id}--{subscription.id}" for event_id in ids}
    wait_until(lambda: names <= {e["name"] for e in sfn.list_executions(
        stateMachineArn=machine, statusFilter="SUCCEEDED")["executions"]})
    stored = wait_until(lambda: (found := wiring.store().get_event_with_notifications(
        tenant, ids[0])) and found[1][0].status == "delivered" and found)
    assert [a.status_code for a in stored[1][0].attempts] == [200]


def test_the_lambda_invoke_api_serves_other_processes(local: LocalProcess) -> None:
    client = local.client("lambda")

    # A fan-out page of an event that was never stored: nothing to deliver
    response = client.invoke(FunctionName="stepwire-ingest", Payload=json.dumps(
        {"tenant": "nobody", "event_id": "evt_missing", "after": None}))

    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert (result["done"], result["started"]) == (True, 0)
    # A malformed input is the function's error, as Lambda reports one
    broken = client.invoke(FunctionName="stepwire-ingest", Payload=json.dumps({"type": "x"}))
    assert broken["FunctionError"] == "Unhandled"
    assert "event_id" in json.loads(broken["Payload"].read())["errorMessage"]


def test_an_event_without_tenant_is_printed_and_kept_in_the_ingress_dead_letter_queue(
        local: LocalProcess) -> None:
    # Given the ingress dead-letter queue the banner names
    [queue] = [line.split()[2] for line in local.banner.splitlines()
               if line.strip().startswith("Ingress DLQ:")]
    sqs = local.client("sqs")

    # When an event without a tenant is put on the bus through the AWS endpoint
    entry = local.client("events").put_events(Entries=[{
        "EventBusName": "stepwire", "Source": "shop", "DetailType": "order.created",
        "Detail": json.dumps({"data": {"order": 42}})}])["Entries"][0]

    # Then the runtime prints a line naming the event and the reason
    line = wait_until(lambda: next((line for line in local.log().splitlines()
                                    if entry["EventId"] in line), None))
    assert "event.refused" in line
    assert "detail.tenant: Field required" in line
    assert "ingress dead-letter queue" in line
    # ... and the queue holds the event as received, with the reason
    letters = wait_until(lambda: sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        WaitTimeSeconds=1).get("Messages"))
    [letter] = [json.loads(m["Body"]) for m in letters
                if json.loads(m["Body"])["event"].get("id") == entry["EventId"]]
    assert letter["error"] == "Event.Invalid"
    assert letter["cause"] == "invalid event: detail.tenant: Field required"
    assert letter["event"]["detail"] == {"data": {"order": 42}}
