"""The workflow tier: both ASL files on moto's interpreter, the real handlers, real HTTP.

Waits are compressed 100,000 times (the 27 h schedule takes about a second); what the
workflow waited is read back from the execution history, in the workflow's own seconds.
"""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stepwire.config import LocalConfig
from stepwire.host.ingress_queue import INGRESS_FUNCTION
from stepwire.runtime import LocalRuntime
from tests.support.receiver import Receiver, free_port
from workflows import wiring
from workflows.kernel.ids import derived_name, execution_name, new_id
from workflows.kernel.settings import get_settings
from workflows.operations.subscriptions import (
    CreatedSubscription,
    NewSubscription,
    create_subscription,
)

TIME_SCALE = 1e-5
REQUEST_TIMEOUT = 0.5


@pytest.fixture(scope="package")
def runtime() -> Iterator[LocalRuntime]:
    config = LocalConfig(aws_port=free_port(), api_port=free_port(),
                         retry_time_scale=TIME_SCALE, request_timeout=REQUEST_TIMEOUT)
    with LocalRuntime(config) as running:
        yield running


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Change STEPWIRE_* settings for the handlers (read from the environment, as in AWS)."""

    def change(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"STEPWIRE_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield change
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def tenant() -> str:
    return new_id("tenant")


class Workflows:
    """Starts ingest executions and waits for what they cause."""

    def __init__(self, runtime: LocalRuntime, receiver: Receiver, tenant: str) -> None:
        self.runtime = runtime
        self.receiver = receiver
        self.tenant = tenant
        self.sfn = runtime.client("stepfunctions")
        self.sqs = runtime.client("sqs")

    def subscribe(self, path: str = "/hook", event_types: list[str] | None = None,
                  url: str | None = None, rate_limit: int | None = None) -> CreatedSubscription:
        subscription = create_subscription(
            self.tenant, NewSubscription(url=url or self.receiver.url(path),
                                         event_types=event_types or ["*"],
                                         rate_limit=rate_limit),
            store=wiring.store(), policy=wiring.target_policy())
        self.receiver.secrets[path] = subscription.secret
        return subscription

    def publish(self, event: Any) -> dict[str, Any]:
        """Hand `event` (any JSON) to the ingress consumer as the ingress queue does, and wait
        for its answer (the batch's failures): the event is stored or refused when it returns."""
        return self.publish_body(json.dumps(event))

    def publish_body(self, body: str) -> dict[str, Any]:
        status, headers, answer = self.runtime.lambdas.invoke(INGRESS_FUNCTION, json.dumps(
            {"Records": [{"messageId": new_id("m"), "body": body, "eventSource": "aws:sqs",
                          "receiptHandle": "r", "attributes": {},
                          "messageAttributes": {}}]}).encode())
        assert status == 200, answer
        if "x-amz-function-error" in headers:  # e.g. every record of the batch failed
            return {"functionError": json.loads(answer)}
        return json.loads(answer)

    def fan_out_runs(self, event_id: str) -> list[str]:
        """The ingest (fan-out) executions of `event_id`, oldest first."""
        resources = self.runtime.resources
        assert resources is not None
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=resources.ingest_state_machine_arn)
        runs = [e for page in pages for e in page["executions"]
                if json.loads(self.sfn.describe_execution(
                    executionArn=e["executionArn"])["input"])["event_id"] == event_id]
        return [e["executionArn"] for e in sorted(runs, key=lambda e: e["startDate"])]

    def event(self, event_type: str = "order.created", **data: Any) -> dict[str, Any]:
        return {"tenant": self.tenant, "type": event_type, "id": new_id("evt"),
                "data": data or {"order": 42}}

    def notification_arn(self, event_id: str, subscription_id: str) -> str:
        resources = self.runtime.resources
        assert resources is not None
        machine = resources.notification_state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{machine}:{execution_name(event_id, subscription_id)}"

    def long_tail_arn(self, event_id: str, subscription_id: str) -> str:
        """The long-tail execution a hand-off of the first notification execution starts."""
        resources = self.runtime.resources
        assert resources is not None and resources.long_tail_state_machine_arn
        machine = resources.long_tail_state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{machine}:{derived_name(execution_name(event_id, subscription_id), 'tail')}"

    def long_tail_started(self, event_id: str, subscription_id: str) -> bool:
        try:
            self.sfn.describe_execution(executionArn=self.long_tail_arn(event_id, subscription_id))
            return True
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return False

    def entered(self, execution_arn: str) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history(execution_arn)
                if "stateEnteredEventDetails" in e]

    def wait(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the execution has ended (the engine has no completion API)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                described = self.sfn.describe_execution(executionArn=execution_arn)
            except self.sfn.exceptions.ExecutionDoesNotExist:
                described = {"status": "NOT_STARTED"}
            if described["status"] not in ("RUNNING", "NOT_STARTED"):
                return described
            time.sleep(0.02)
        raise TimeoutError(f"{execution_arn} still running after {timeout} s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution_arn)["events"]

    def state_inputs(self, execution_arn: str, state: str) -> list[dict[str, Any]]:
        """The input of every entry into `state`, in order."""
        return [json.loads(e["stateEnteredEventDetails"]["input"])
                for e in self.history(execution_arn)
                if e.get("stateEnteredEventDetails", {}).get("name") == state]

    def dead_letters(self) -> list[dict[str, Any]]:
        """Drain the DLQ (tests run one at a time) and return this tenant's letters."""
        resources = self.runtime.resources
        assert resources is not None
        queue = resources.dead_letter_queue_url
        letters = []
        while messages := self.sqs.receive_message(QueueUrl=queue,
                                                   MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                letters.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return [letter for letter in letters if letter["tenant"] == self.tenant]

    def refused(self) -> list[dict[str, Any]]:
        """Drain the ingress dead-letter queue: each message's body, with its attributes under
        `attributes` (tests run one at a time)."""
        resources = self.runtime.resources
        assert resources is not None
        queue = resources.ingress_dead_letter_queue_url
        letters = []
        while messages := self.sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10,
                MessageAttributeNames=["All"]).get("Messages"):
            for message in messages:
                attributes = {name: value["StringValue"]
                              for name, value in message.get("MessageAttributes", {}).items()}
                letters.append({**json.loads(message["Body"]), "attributes": attributes})
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return letters

    def notification(self, event_id: str):
        found = wiring.store().get_event_with_notifications(self.tenant, event_id)
        assert found is not None, f"event {event_id} not stored"
        return found


@pytest.fixture
def flows(runtime: LocalRuntime, receiver: Receiver, tenant: str) -> Workflows:
    return Workflows(runtime, receiver, tenant)
