"""AWS chaos, end to end: `stepwire local` in its own process, events published through the
API and through EventBridge while every service it uses (DynamoDB, Lambda, Step Functions,
SQS, EventBridge) fails about one call in five, set over HTTP with the chaos API; then the
faults are removed. Every event that was accepted (a 202, or a PutEvents entry without an
error) must end delivered to a receiver that always answers 200, with no dead letter and one
webhook-id per event. One run, two checks:
AWS's faults never fail or dead-letter an accepted event (Stepwire's faults are not the
receiver's), and every accepted event is delivered (nothing accepted is lost)."""

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.api.test_api_http import stepwire_token
from tests.e2e.conftest import LocalProcess, start_local, stop_local
from tests.support.receiver import Receiver
from workflows.kernel.ids import new_id

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

SEED = 7
PROBABILITY = 0.2
# DynamoDB throttled more often than the rest: then the SDK's 3 attempts run out inside the
# functions for about one call in 8, so every run meets that fault, not only most runs.
DYNAMODB_PROBABILITY = 0.5
ROUNDS = 40  # each: one event through the API, one through EventBridge
# The reconciler finishes what AWS kept from finishing: a row left `delivering` waits out its
# attempt lease (35 s, not scaled: a POST may take that long), then the next run while no
# Express execution is open. About 40 s after the faults on a quiet machine; a deadline, not a
# duration, so a slow machine gets twice that.
SETTLE_TIMEOUT = 120.0
FAULTS = [
    {"service": "dynamodb", "probability": DYNAMODB_PROBABILITY,
     "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}},
    {"service": "lambda", "probability": PROBABILITY,
     "error": {"statusCode": 429, "code": "TooManyRequestsException"}},
    # `Throttling`: the ASL sees StepFunctions.ThrottlingException (moto appends "Exception")
    {"service": "stepfunctions", "probability": PROBABILITY,
     "error": {"statusCode": 400, "code": "Throttling"}},
    {"service": "sqs", "probability": PROBABILITY,
     "error": {"statusCode": 400, "code": "RequestThrottled"}},
    {"service": "events", "probability": PROBABILITY,
     "error": {"statusCode": 400, "code": "ThrottlingException"}},
]


@pytest.fixture(scope="module")
def chaotic() -> Iterator[LocalProcess]:
    running = start_local("--retry-time-scale", "0.01", "--aws-faults-seed", str(SEED))
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, f"stepwire local did not stop cleanly ({code}):\n{output}"


def dead_letters(local: LocalProcess, tenant: str) -> list[dict]:
    sqs = local.client("sqs")
    queue = sqs.get_queue_url(QueueName="stepwire-dead-letters")["QueueUrl"]
    letters: list[dict] = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages"):
        letters.extend(json.loads(m["Body"]) for m in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [letter for letter in letters if letter.get("tenant") == tenant]


@dataclass
class ChaosRun:
    accepted: list[str]
    origin: dict[str, str]  # event id → "api" or "eventbridge"
    statuses: dict[str, str]  # event id → its notification's final status
    letters: list[dict]
    webhook_ids: dict[str, set[str]]


@pytest.fixture(scope="module")
def chaos_run(chaotic: LocalProcess) -> ChaosRun:
    """One run through the faults, then the faults off and the accepted events settled."""
    tenant = new_id("awschaos")
    faults = f"{chaotic.aws_endpoint}/_stepwire/chaos/faults"
    token = stepwire_token(chaotic, tenant, "admin,publisher")
    api = httpx.Client(base_url=chaotic.api_url, timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
    events = chaotic.client("events")
    with Receiver() as receiver:
        created = api.post("/subscriptions", json={"url": receiver.url(), "event_types": ["*"]})
        assert created.status_code == 201, created.text
        receiver.secrets["/hook"] = created.json()["secret"]

        # Faults on every service, for the publishing window
        started = time.monotonic()
        assert httpx.put(faults, json=FAULTS).status_code == 200
        accepted: list[str] = []
        origin: dict[str, str] = {}
        refused: dict[str, int] = {"api": 0, "eventbridge": 0}
        for n in range(ROUNDS):
            answer = api.post("/events", json={"type": "order.created", "data": {"n": n}})
            if answer.status_code == 202:
                accepted.append(answer.json()["id"])
                origin[accepted[-1]] = "api"
            else:
                refused["api"] += 1
            event_id = new_id("evt")
            try:
                put = events.put_events(Entries=[{
                    "EventBusName": "stepwire", "Source": "awschaos",
                    "DetailType": "order.created",
                    "Detail": json.dumps({"tenant": tenant, "id": event_id, "data": {"n": n}})}])
                ok = put["FailedEntryCount"] == 0
            except Exception:  # a refused PutEvents is simply not accepted
                ok = False
            if ok:
                accepted.append(event_id)
                origin[event_id] = "eventbridge"
            else:
                refused["eventbridge"] += 1
            time.sleep(0.2)
        time.sleep(2.0)  # the faults stay on while the accepted events are in flight
        assert httpx.delete(faults).status_code == 200  # faults off

        # Then every accepted event ends delivered
        def status_of(event_id: str) -> str:
            found = api.get(f"/events/{event_id}")
            if found.status_code == 429:  # this polling is over the tenant's rate: ask again
                time.sleep(float(found.headers.get("Retry-After", "1")))
                found = api.get(f"/events/{event_id}")
            if found.status_code != 200:
                return f"HTTP {found.status_code}"
            notifications = found.json()["notifications"]
            return notifications[0]["status"] if notifications else "not fanned out"

        deadline = time.monotonic() + SETTLE_TIMEOUT
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses.update({event_id: status_of(event_id) for event_id in accepted
                             if statuses.get(event_id) not in ("delivered", "failed")})
            if all(s in ("delivered", "failed") for s in statuses.values()):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        requests = receiver.requests.get("/hook", [])
    letters = dead_letters(chaotic, tenant)
    webhook_ids: dict[str, set[str]] = {}
    for request in requests:
        webhook_ids.setdefault(json.loads(request.body)["id"], set()).add(
            request.headers["webhook-id"])
    counts = Counter(statuses.values())
    undelivered = sorted(f"{origin[i]}:{s}" for i, s in statuses.items() if s != "delivered")
    print(f"\naws chaos (seed {SEED}, p={PROBABILITY}): {len(accepted)} accepted of "
          f"{2 * ROUNDS} published (refused: {refused}); final statuses {dict(counts)}; "
          f"{len(letters)} dead letters {sorted(d['error'] for d in letters)}; "
          f"not delivered (ingress:status) {undelivered}; "
          f"{len(requests)} webhook requests; {elapsed:.1f} s")
    return ChaosRun(accepted, origin, statuses, letters, webhook_ids)


def test_aws_faults_never_fail_or_dead_letter_an_accepted_event(chaos_run: ChaosRun) -> None:
    # Stepwire's faults are not the receiver's: nothing failed, nothing in the DLQ
    assert "failed" not in chaos_run.statuses.values(), chaos_run.statuses
    assert chaos_run.letters == []
    # Resent or not, one webhook-id per event (receivers deduplicate by it)
    assert set(chaos_run.webhook_ids) <= set(chaos_run.accepted)
    assert all(len(ids) == 1 for ids in chaos_run.webhook_ids.values()), chaos_run.webhook_ids


def test_every_accepted_event_is_delivered_through_aws_faults(chaos_run: ChaosRun) -> None:
    counts = Counter(chaos_run.statuses.values())
    assert counts == {"delivered": len(chaos_run.accepted)}, counts
    assert set(chaos_run.webhook_ids) == set(chaos_run.accepted)
