"""The fault matrix: every Task state of every machine × the documented errors of its service
(issue 19), each case ending as the contract says: delivered (the receiver answers 200 in the
end), or in a dead-letter queue only where the receiver caused it; one webhook-id per
notification; no notification left pending, delivering or parked once its executions ended.

The Task list is read from `statemachines/*.asl.json` (Tasks inside Map iterators included); a
Task's service from its Resource. Errors per service (rule code → the ASL's error):

- lambda Invoke: 429 TooManyRequestsException, 500 ServiceException, 500 Unknown
  (`Lambda.TooManyRequestsException`, `Lambda.ServiceException`, `Lambda.Unknown`);
- dynamodb (the Task's operation): 400 ProvisionedThroughputExceededException;
- stepfunctions StartExecution: the SDK's throttling error, `StepFunctions.ThrottlingException`
  in the ASL: moto's interpreter appends "Exception" to the code it gets, so the rule's code
  is `Throttling` (400); code `ThrottlingException` would surface as
  `StepFunctions.ThrottlingExceptionException`, a name no ASL catches;
- sqs SendMessage: 400 RequestThrottled (moto's interpreter names every SQS error
  `SQS.SdkClientException`).

One Task state is targeted by a fault aimed at the calls its own frame makes (`aimed.py`):
handlers' own calls run under their Task's frame, so a dynamodb fault aimed at MarkQueued never
touches the RecordFailure function's writes. The interpreter's clients make one attempt per
call, so one call is one Task attempt.

The fault's bound: the first FAULTED_ATTEMPTS (4) attempts of the Task in the case, then it
answers again (in AWS terms, a throttle or outage lasting 4 attempts, about 7 s with the ASL's
retry intervals). 4 is one more than Deliver's own retries (2), so Deliver's cases also take
the path of Stepwire's faults (the long tail), and as many as the bookkeeping tasks' retries
(4: then they succeed). The rule is removed at the end of the case. Each case asserts that the
fault reached its Task at least once and that an execution of the machine recorded the
expected ASL error name (a case whose path was not taken fails, it does not pass silently).

Scenarios (the receiver, tests/support/receiver.py; waits scaled by TIME_SCALE):

- happy: always 200 (notification Deliver);
- fan_out: always 200, two subscriptions, the acceptance fans out one page (the ingest
  workflow's FanOutPage the other);
- backoff / retry_after: 503, or 429 with Retry-After, once, then 200 (RecordBackoff,
  RecordRetryAfter);
- tail: 503 twice (the fast path's attempts), then 200 (HandOff, StartLongTail; the long
  tail's Deliver); tail_backoff / tail_retry_after: a third failure in the long tail (its
  RecordBackoff, RecordRetryAfter);
- permanent / tail_permanent: 400 at once, or in the long tail: the receiver causes the dead
  letter (RecordFailure, SendToDeadLetterQueue, MarkQueued of both machines); expected:
  failed, one letter;
- breaker (reduced: 3 events, not 1): breaker threshold 2, one release per batch, one batch
  per recovery execution; the endpoint answers 503 until all 3 are parked, then 200. The first
  event reaches the long tail before the breaker opens (its fast-path answers are 503s, its
  long-tail answers are slow 503s so that it is still there when the second event opens the
  breaker), the second parks from the fast path, the third parks at once. Covers Park and
  StartRecovery of both machines and the recovery's Probe, Release and HandOver.

Results (FAULTED_ATTEMPTS = 4): every case passes. Deliver (both machines) under Lambda's
throttles, service errors and `Lambda.Unknown` is handed to the long tail (or waited out in it)
without an attempt counted and delivered; before issue 20 those six cases dead-lettered a
notification that a 200 receiver would take.
"""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stepwire.emulation.chaos import FAULTS
from tests.support.receiver import Answer, Received
from tests.workflow.chaos.aimed import AimedFault, current_task
from tests.workflow.conftest import REQUEST_TIMEOUT, Workflows
from workflows import wiring
from workflows.ingest import fan_out

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[3]
FAULTED_ATTEMPTS = 4
SETTLE_TIMEOUT = 30.0

ERRORS = {
    "lambda": [(429, "TooManyRequestsException", "Lambda.TooManyRequestsException"),
               (500, "ServiceException", "Lambda.ServiceException"),
               (500, "Unknown", "Lambda.Unknown")],
    "dynamodb": [(400, "ProvisionedThroughputExceededException",
                  "DynamoDB.ProvisionedThroughputExceededException")],
    "stepfunctions": [(400, "Throttling", "StepFunctions.ThrottlingException")],
    "sqs": [(400, "RequestThrottled", "SQS.SdkClientException")],
}


def service_of(resource: str) -> tuple[str, str]:
    """(service, operation) of a Task's Resource (an optimized integration)."""
    prefix = "arn:aws:states:::"
    assert resource.startswith(prefix), f"not a service integration: {resource}"
    service, _, action = resource[len(prefix):].partition(":")
    action = action.split(".")[0]  # `.sync`, `.waitForTaskToken`
    service = {"states": "stepfunctions"}.get(service, service)
    assert service in ERRORS, f"no documented errors listed for {resource}"
    return service, action[0].upper() + action[1:]


def tasks_of(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for inner in ("Iterator", "ItemProcessor"):
            if inner in state:
                yield from tasks_of(state[inner]["States"])
        for branch in state.get("Branches", []):
            yield from tasks_of(branch["States"])


def all_tasks() -> list[tuple[str, str, str, str]]:
    """(machine, state, service, operation) of every Task of every machine."""
    found = []
    for path in sorted((ROOT / "statemachines").glob("*.asl.json")):
        machine = path.name.removesuffix(".asl.json")
        for name, state in tasks_of(json.loads(path.read_text())["States"]):
            found.append((machine, name, *service_of(state["Resource"])))
    return found


# Which scenario reaches each Task (a Task missing here fails test_every_task_has_a_scenario).
SCENARIO = {
    ("ingest", "FanOutPage"): "fan_out",
    ("notification", "Deliver"): "happy",
    ("notification", "RecordRetryAfter"): "retry_after",
    ("notification", "RecordBackoff"): "backoff",
    ("notification", "HandOff"): "tail",
    ("notification", "StartLongTail"): "tail",
    ("notification", "Park"): "breaker",
    ("notification", "StartRecovery"): "breaker",
    ("notification", "RecordFailure"): "permanent",
    ("notification", "SendToDeadLetterQueue"): "permanent",
    ("notification", "MarkQueued"): "permanent",
    ("long-tail", "Deliver"): "tail",
    ("long-tail", "RecordRetryAfter"): "tail_retry_after",
    ("long-tail", "RecordBackoff"): "tail_backoff",
    ("long-tail", "Park"): "breaker",
    ("long-tail", "StartRecovery"): "breaker",
    ("long-tail", "RecordFailure"): "tail_permanent",
    ("long-tail", "SendToDeadLetterQueue"): "tail_permanent",
    ("long-tail", "MarkQueued"): "tail_permanent",
    ("recovery", "Probe"): "breaker",
    ("recovery", "Release"): "breaker",
    ("recovery", "HandOver"): "breaker",
}


def cases() -> list[Any]:
    return [pytest.param(machine, state, service, operation, status, code, error,
                         id=f"{machine}.{state}-{error}")
            for machine, state, service, operation in all_tasks()
            for status, code, error in ERRORS[service]]


@pytest.fixture
def aim(flows: Workflows, aim_faults: Callable[..., None]) -> Callable[..., AimedFault]:
    def arm(machine: str, state: str, service: str, operation: str, status: int,
            code: str) -> AimedFault:
        resources = flows.runtime.resources
        assert resources is not None
        target = (resources.state_machine_arns[machine], state)
        fault = AimedFault(service, operation, status, code, FAULTED_ATTEMPTS,
                           aimed=lambda: current_task() == target)
        aim_faults(fault)
        return fault

    return arm


# --- scenarios ----------------------------------------------------------------------------

def answers(*statuses_or_answers: int | Answer) -> Callable[[Received], Answer]:
    """Plays the given answers in order, then 200."""
    queue = [a if isinstance(a, Answer) else Answer(status=a) for a in statuses_or_answers]
    lock = threading.Lock()

    def script(_request: Received) -> Answer:
        with lock:
            return queue.pop(0) if queue else Answer(status=200)

    return script


RETRY_AFTER = Answer(status=429, headers={"Retry-After": "30"})
SIMPLE: dict[str, tuple[int | Answer, ...]] = {
    "happy": (), "backoff": (503,), "retry_after": (RETRY_AFTER,), "tail": (503, 503),
    "tail_backoff": (503, 503, 503), "tail_retry_after": (503, 503, RETRY_AFTER),
    "permanent": (400,), "tail_permanent": (503, 503, 400),
}
DEAD_LETTERED = {"permanent", "tail_permanent"}


@dataclass
class Published:
    events: list[str]
    notifications: int


def publish_one(flows: Workflows) -> Published:
    flows.subscribe()
    event = flows.event()
    flows.publish(event)
    return Published([event["id"]], 1)


def publish_past_the_first_page(flows: Workflows, monkeypatch: pytest.MonkeyPatch) -> Published:
    """Two subscriptions, a first page of one: the ingest workflow fans out the second."""
    monkeypatch.setattr(fan_out, "INLINE_PAGE", 1)
    flows.subscribe("/hook")
    flows.subscribe("/other")
    event = flows.event()
    flows.publish(event)
    return Published([event["id"]], 2)


class Outage:
    """503 until switched up, then 200; the first event's long-tail answers are slow 503s."""

    def __init__(self, slow_event: str | None = None) -> None:
        self.up = threading.Event()
        self.slow_event = slow_event
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: Received) -> Answer:
        event_id = json.loads(request.body)["id"]
        with self._lock:
            self.seen[event_id] += 1
            seen = self.seen[event_id]
        if self.up.is_set():
            return Answer(status=200)
        if event_id == self.slow_event and seen > 2:  # its long tail: hold it there a while
            return Answer(status=503, delay=REQUEST_TIMEOUT * 0.6)
        return Answer(status=503)


def eventually(check: Callable[[], Any], what: str, timeout: float = SETTLE_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {timeout} s: {what}")
        time.sleep(0.02)
    return value


def publish_to_an_outage(flows: Workflows, settings: Callable[..., None]) -> Published:
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=10**9,
             breaker_failure_threshold=2, release_rate_per_second=1,
             recovery_batches_per_execution=1)
    subscription = flows.subscribe()
    store = wiring.store()
    events = [flows.event(n=i) for i in range(3)]
    outage = Outage(slow_event=events[0]["id"])
    flows.receiver.script = outage
    flows.publish(events[0])
    eventually(lambda: flows.long_tail_started(events[0]["id"], subscription.id),
               "the first event in the long tail")
    flows.publish(events[1])  # its first failure opens the breaker
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) >= 1,
               "a notification parked")
    flows.publish(events[2])
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == 3,
               "every notification parked")
    outage.up.set()
    return Published([e["id"] for e in events], 3)


# --- the end of a case --------------------------------------------------------------------

def running_for(flows: Workflows, tenant: str) -> list[str]:
    """ARNs of the running executions (any machine) whose input names the tenant."""
    resources = flows.runtime.resources
    assert resources is not None
    found = []
    for machine in resources.state_machine_arns.values():
        pages = flows.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING")
        for page in pages:
            for listed in page["executions"]:
                try:
                    described = flows.sfn.describe_execution(executionArn=listed["executionArn"])
                except flows.sfn.exceptions.ExecutionDoesNotExist:
                    continue
                if described["status"] == "RUNNING" and tenant in described.get("input", ""):
                    found.append(listed["executionArn"])
    return found


def statuses(flows: Workflows, event_ids: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for event_id in event_ids:
        stored = wiring.store().get_event_with_notifications(flows.tenant, event_id)
        if stored is None or not stored[1]:
            found["not fanned out"] += 1
        found.update(n.status.value for n in (stored[1] if stored else []))
    return found


def settled(flows: Workflows, published: Published) -> Counter[str]:
    """Wait for every notification to end and every execution of the tenant to end. A run
    that could not finish (it ended Unfinished) is finished by the reconciler, as in AWS: it
    runs whenever nothing of the tenant is running and something is left."""
    def ended() -> Counter[str] | None:
        found = statuses(flows, published.events)
        if running_for(flows, flows.tenant):
            return None
        if set(found) - {"delivered", "failed"} or sum(found.values()) < published.notifications:
            flows.runtime.reconciler.run_now()
            return None
        return found

    try:
        return eventually(ended, "every notification ended, no execution running")
    except TimeoutError:
        return statuses(flows, published.events)  # asserted below, with what is left


def recorded_errors(flows: Workflows, machine: str, tenant: str) -> set[str]:
    """The error names in the histories of the machine's executions for the tenant."""
    resources = flows.runtime.resources
    assert resources is not None
    arns = []
    pages = flows.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=resources.state_machine_arns[machine])
    for page in pages:
        for listed in page["executions"]:
            described = flows.sfn.describe_execution(executionArn=listed["executionArn"])
            if tenant in described.get("input", ""):
                arns.append(listed["executionArn"])
    return {details["error"] for arn in arns for event in flows.history(arn)
            for name, details in event.items()
            if name.endswith("EventDetails") and isinstance(details, dict)
            and "error" in details}


@pytest.mark.parametrize(("machine", "state", "service", "operation", "status", "code",
                          "error"), cases())
def test_a_fault_on_one_task_ends_as_the_contract_says(
        flows: Workflows, settings: Callable[..., None], aim: Callable[..., AimedFault],
        monkeypatch: pytest.MonkeyPatch, machine: str, state: str, service: str,
        operation: str, status: int, code: str, error: str) -> None:
    scenario = SCENARIO[(machine, state)]
    flows.dead_letters()  # drained: tests run one at a time
    # Given the fault aimed at the Task for its first attempts
    fault = aim(machine, state, service, operation, status, code)

    # When one event (a few for the breaker paths) is published
    if scenario in SIMPLE:
        flows.receiver.script = answers(*SIMPLE[scenario])
        published = publish_one(flows)
    elif scenario == "fan_out":
        published = publish_past_the_first_page(flows, monkeypatch)
    else:
        published = publish_to_an_outage(flows, settings)
    found = settled(flows, published)
    FAULTS.replace([])  # faults off

    # Then: the fault reached the Task, every notification ended, no execution runs
    assert fault.fired >= 1, f"the fault never reached {machine}.{state} ({scenario})"
    assert error in recorded_errors(flows, machine, flows.tenant)
    letters = flows.dead_letters()
    requests = [r for path in flows.receiver.requests.values() for r in path]
    webhook_ids: dict[str, set[str]] = {}
    for request in requests:
        webhook_ids.setdefault(json.loads(request.body)["id"], set()).add(
            request.headers["webhook-id"])
    count = published.notifications
    print(f"{machine}.{state} {code}: scenario {scenario}, fault fired {fault.fired}, "
          f"statuses {dict(found)}, dead letters {[d['error'] for d in letters]}, "
          f"{len(requests)} requests")
    if scenario in DEAD_LETTERED:
        # the receiver caused the end: failed, one dead letter each
        assert found == Counter({"failed": count}), (found, letters)
        assert sorted(d["event_id"] for d in letters) == sorted(published.events), letters
    else:
        assert found == Counter({"delivered": count}), (found, letters)
        assert letters == [], "a 200 receiver never causes a dead letter"
        assert all(r.verified for r in requests)
    # One webhook-id per notification, whatever was resent (receivers deduplicate by it).
    assert set(webhook_ids) <= set(published.events)
    assert sum(len(ids) for ids in webhook_ids.values()) <= count, webhook_ids
    assert not running_for(flows, flows.tenant)


def test_every_task_has_a_scenario() -> None:
    tasks = {(machine, state) for machine, state, _, _ in all_tasks()}
    assert tasks == set(SCENARIO)
