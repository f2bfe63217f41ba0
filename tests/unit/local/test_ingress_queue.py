"""The local ingress queue hands messages over as Lambda's SQS event source does: a message
the function did not take comes back after the visibility timeout, and after the queue's
receive count it goes to the ingress dead-letter queue."""

import json
import threading
import time

import pytest

from stepwire.host import ingress_queue
from stepwire.host.ingress_queue import IngressQueue

pytestmark = pytest.mark.unit


class FailingFunction:
    """Answers every batch with every record failed, and counts the receives."""

    def __init__(self) -> None:
        self.received: list[str] = []

    def invoke(self, _function: str, payload: bytes):
        records = json.loads(payload)["Records"]
        self.received += [r["messageId"] for r in records]
        failures = [{"itemIdentifier": r["messageId"]} for r in records]
        return 200, {}, json.dumps({"batchItemFailures": failures}).encode()


class DeadLetters:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        self.bodies.append(MessageBody)


def test_a_message_never_taken_goes_to_the_dead_letter_queue_after_its_receives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingress_queue, "MAX_RECEIVES", 3)
    function, sqs, taken = FailingFunction(), DeadLetters(), []
    stopping = threading.Event()
    queue = IngressQueue(sqs, "ingress", "ingress-dlq", function, stopping,  # type: ignore[arg-type]
                         taken.append, time_scale=0)
    queue.backlog.append(("m1", '{"id": "e1"}'))
    consumer = threading.Thread(target=queue.consume, daemon=True)
    consumer.start()
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        time.sleep(0.01)
    stopping.set()
    consumer.join(5)

    assert function.received == ["m1", "m1", "m1"]  # received again after each failure
    assert sqs.bodies == ['{"id": "e1"}']
    assert taken == ["m1"]
