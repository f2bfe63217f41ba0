"""The reconciler finishes what dead executions left, end to end: `stepwire local` in its own
process with the reconciler on its schedule (300 s × the retry-time scale), a fan-out and two
notification runs killed mid-way by AWS faults set with the chaos API; once the faults are off,
every event is delivered once per subscription, with its own webhook-id, and nobody asked."""

import json
import time

import httpx
import pytest

from tests.e2e.api.test_api_http import eventually, stepwire_token
from tests.e2e.conftest import LocalProcess
from tests.support.receiver import Receiver
from workflows.kernel.ids import execution_name, new_id, webhook_id

pytestmark = pytest.mark.e2e

# A throttled read of the subscriptions: the acceptance has stored the event, its fan-out dies.
QUERY_THROTTLED = {"service": "dynamodb", "operation": "Query", "probability": 1.0,
                   "error": {"statusCode": 400,
                             "code": "ProvisionedThroughputExceededException"}}
# Lambda.Unknown on every invoke: the notification runs die before their first POST.
LAMBDA_UNKNOWN = {"service": "lambda", "operation": "Invoke", "probability": 1.0,
                  "error": {"statusCode": 500, "code": "Unknown"}}


def test_the_reconciler_finishes_a_dead_fan_out_and_dead_notifications(local: LocalProcess):
    tenant = new_id("reconciled")
    faults = f"{local.aws_endpoint}/_stepwire/chaos/faults"
    api = httpx.Client(base_url=local.api_url, timeout=30, headers={
        "Authorization": f"Bearer {stepwire_token(local, tenant, 'admin,publisher')}"})
    sfn = local.client("stepfunctions")
    with Receiver() as receiver:
        # Given two subscriptions to a receiver that answers 200
        subscriptions = {}
        for path in ("/a", "/b"):
            created = api.post("/subscriptions",
                               json={"url": receiver.url(path), "event_types": ["*"]})
            assert created.status_code == 201, created.text
            receiver.secrets[path] = created.json()["secret"]
            subscriptions[path] = created.json()["id"]

        # When an event's fan-out dies after the event was stored (the 202 is durable)
        assert httpx.put(faults, json=[QUERY_THROTTLED]).status_code == 200
        unfanned = api.post("/events", json={"type": "order.created", "data": {"n": 1}})
        assert unfanned.status_code == 202, unfanned.text
        # ... and another event's notification runs die before their first attempt
        assert httpx.put(faults, json=[LAMBDA_UNKNOWN]).status_code == 200
        abandoned = api.post("/events", json={"type": "order.created", "data": {"n": 2}})
        assert abandoned.status_code == 202, abandoned.text
        runs = [local.arn("execution", "stepwire-notification:"
                          + execution_name(abandoned.json()["id"], subscription_id))
                for subscription_id in subscriptions.values()]
        eventually(lambda: all(sfn.describe_execution(executionArn=run)["status"] != "RUNNING"
                               for run in runs))
        assert receiver.requests == {}
        assert httpx.delete(faults).status_code == 200

        # Then the reconciler, on its schedule, finishes both: each event delivered once to
        # each subscription, with the webhook-id of that pair
        events = [unfanned.json()["id"], abandoned.json()["id"]]

        def delivered() -> bool:
            for event_id in events:
                found = api.get(f"/events/{event_id}").json()
                if [n["status"] for n in found["notifications"]] != ["delivered"] * 2:
                    return False
            return True

        eventually(delivered, timeout=60)
        time.sleep(1.0)  # a second POST of any of them would have come by now (scale 0.001)
        for path, subscription_id in subscriptions.items():
            bodies = sorted((json.loads(r.body)["id"], r.headers["webhook-id"])
                            for r in receiver.requests[path])
            assert bodies == sorted((event_id, webhook_id(tenant, event_id, subscription_id))
                                    for event_id in events)
    log = local.log()
    assert f"event {events[0]} has no notification for 2 matching subscriptions" in log
    assert f"event {events[1]} to {subscriptions['/a']} was pending" in log
