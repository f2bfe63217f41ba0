"""Chaos: 300 events while the receiver fails about 30% of attempts. Nothing is lost."""

import json
import random
import threading
import time
from collections import Counter

import pytest

from tests.e2e.conftest import REQUEST_TIMEOUT, LocalProcess
from tests.support.receiver import Answer, Received, Receiver
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.operations.subscriptions import NewSubscription, create_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

EVENTS = 300
FAILURE_RATE = 0.3
# At most this many failures in a row per webhook: with 8 attempts every event must arrive.
MAX_FAILURES_IN_A_ROW = 3


class ChaosScript:
    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.failures_in_a_row: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()

    def __call__(self, request: Received) -> Answer:
        webhook = request.headers["webhook-id"]
        with self.lock:
            fail = (self.random.random() < FAILURE_RATE
                    and self.failures_in_a_row[webhook] < MAX_FAILURES_IN_A_ROW)
            kind = self.random.choice(["500", "502", "503", "timeout", "drop"]) if fail else "200"
            self.failures_in_a_row[webhook] = self.failures_in_a_row[webhook] + 1 if fail else 0
            self.outcomes[kind] += 1
        if kind == "timeout":
            return Answer(delay=REQUEST_TIMEOUT * 1.5)
        if kind == "drop":
            return Answer(drop=True)
        return Answer(status=int(kind))


def dead_letters(local: LocalProcess) -> list[str]:
    sqs = local.client("sqs")
    queue = sqs.get_queue_url(QueueName="stepwire-dead-letters")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


def test_every_event_is_delivered_through_failures(local: LocalProcess) -> None:
    tenant = new_id("chaos")
    script = ChaosScript()
    with Receiver(script) as receiver:
        subscription = create_subscription(
            tenant, NewSubscription(url=receiver.url(), event_types=["*"]),
            store=wiring.store(), policy=wiring.target_policy())
        receiver.secrets["/hook"] = subscription.secret
        events = local.client("events")
        ids = [new_id("evt") for _ in range(EVENTS)]
        started = time.monotonic()
        for batch in range(0, EVENTS, 10):
            response = events.put_events(Entries=[{
                "EventBusName": "stepwire", "Source": "chaos", "DetailType": "chaos.tested",
                "Detail": json.dumps({"tenant": tenant, "id": event_id, "data": {"i": i}}),
            } for i, event_id in enumerate(ids[batch:batch + 10], start=batch)])
            assert response["FailedEntryCount"] == 0

        store = wiring.store()
        deadline = time.monotonic() + 240
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for event_id in list(pending):
                found = store.get_event_with_notifications(tenant, event_id)
                if found and found[1] and found[1][0].status in ("delivered", "failed"):
                    pending.discard(event_id)
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        requests = receiver.requests["/hook"]

    statuses = Counter(store.get_event_with_notifications(tenant, i)[1][0].status for i in ids)
    delivered_ok = {r.payload["id"] for r in requests if r.verified}
    webhook_ids_per_event: dict[str, set[str]] = {}
    for request in requests:
        event_id = json.loads(request.body)["id"]
        webhook_ids_per_event.setdefault(event_id, set()).add(request.headers["webhook-id"])
    # At least once: a 200 that arrives after the request deadline counts as a timeout and is
    # sent again, with the same webhook-id, for the receiver to deduplicate.
    repeats = script.outcomes["200"] - EVENTS
    print(f"\nchaos: {EVENTS} events, {len(requests)} requests in {elapsed:.1f} s; "
          f"receiver answers {dict(script.outcomes)}; repeated after a late 200: {repeats}; "
          f"final statuses {dict(statuses)}")

    assert not pending, f"{len(pending)} events never reached a terminal state"
    assert statuses == Counter({"delivered": EVENTS}), (
        f"every event ends delivered; dead letters: {dead_letters(local)}")
    assert delivered_ok == set(ids), "every event arrived, signed and verified"
    assert all(len(v) == 1 for v in webhook_ids_per_event.values()), "webhook-id is stable"
    assert len({next(iter(v)) for v in webhook_ids_per_event.values()}) == EVENTS
    failures = sum(n for kind, n in script.outcomes.items() if kind != "200")
    assert 0.15 < failures / len(requests) < 0.45, "the receiver really failed ~30% of attempts"
