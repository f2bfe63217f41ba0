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

How one Task state is targeted (the rule shape has no resource filter, and several Tasks share
lambda Invoke or dynamodb UpdateItem): a real rule with probability 0 for the service and
operation is installed (so that every path consults the registry: the direct Lambda and
DynamoDB paths step aside for it), and the registry's `decide` is wrapped in this process so
that it answers the error only to a call made by the target Task: the interpreter evaluates a
Task in the calling thread, so the innermost moto `StateTask` frame on the stack names the
state and its environment names the state machine. Handlers' own calls run under the Deliver
(or another lambda) Task's frame, so a dynamodb rule aimed at MarkDelivered never touches the
Deliver function's writes. The interpreter's clients make one attempt per call, so one call is
one Task attempt.

The fault's bound: the first FAULTED_ATTEMPTS (4) attempts of the Task in the case, then it
answers again (in AWS terms, a throttle or outage lasting 4 attempts: with the ASL's retry
intervals about 7 s, the figure of issue 20). 4 is one more than Deliver's 3 retries of
Lambda errors, so the matrix shows what a short burst does to each Task's Retry/Catch. The rule
is removed at the end of the case. Each case asserts that the fault reached its Task at least
once and that an execution of the machine recorded the expected ASL error name (a case whose
path was not taken fails, it does not pass silently).

Scenarios (the receiver, tests/support/receiver.py; waits scaled by TIME_SCALE):

- happy: always 200 (ingest PersistEvent, StartNotification; notification Deliver,
  MarkDelivered);
- backoff / retry_after: 503, or 429 with Retry-After, once, then 200 (RecordBackoff,
  RecordRetryAfter);
- tail: 503 twice (the fast path's attempts), then 200 (HandOff, StartLongTail; the long
  tail's Deliver, MarkDelivered); tail_backoff / tail_retry_after: a third failure in the long
  tail (its RecordBackoff, RecordRetryAfter);
- permanent / tail_permanent: 400 at once, or in the long tail: the receiver causes the dead
  letter (RecordFailure, SendToDeadLetterQueue of both machines); expected: failed, one letter;
- rejected: an event without a tenant (ingest RejectEvent); expected: one ingress dead letter;
- breaker (reduced: 3 events, not 1): breaker threshold 2, one release per batch, one batch
  per recovery execution; the endpoint answers 503 until all 3 are parked, then 200. The first
  event reaches the long tail before the breaker opens (its fast-path answers are 503s, its
  long-tail answers are slow 503s so that it is still there when the second event opens the
  breaker), the second parks from the fast path, the third parks at once. Covers Park and
  StartRecovery of both machines and the recovery's Probe, Release and HandOver;
- expired (reduced: 3 events): the endpoint never answers, the retry window is short: the
  recovery's DeadLetterExpired map dead-letters what stays parked past it (the receiver caused
  it); expected: all failed, one letter each.

Results today (FAULTED_ATTEMPTS = 4), strict xfails naming issue 20:

| Task | errors | today |
|---|---|---|
| ingest.PersistEvent | all 3 lambda | pass (Retry States.ALL ×5) |
| ingest.RejectEvent | sqs | pass (Retry ×6) |
| ingest.StartNotification (Map) | sfn | pass (Retry ×6) |
| Deliver (both) | TooManyRequests, ServiceException | xfail: 4 attempts exhaust Retry ×3 → DLQ |
| Deliver (both) | Unknown | xfail: not retried, States.ALL → DLQ at once |
| MarkDelivered (both) | dynamodb | pass (Retry ×6) |
| RecordBackoff, RecordRetryAfter (both) | dynamodb | pass (Retry ×2, then Catch → the Wait) |
| notification.HandOff | all 3 lambda | pass (Retry ×6) |
| notification.StartLongTail | sfn | pass (Retry ×6) |
| Park, StartRecovery (both) | lambda / sfn | pass (Retry ×6) |
| RecordFailure, SendToDeadLetterQueue (all three machines) | lambda / sqs | pass (Retry ×6) |
| recovery.Probe, recovery.Release | all 3 lambda | pass (Retry ×6) |
| recovery.HandOver | sfn | pass (Retry ×6) |

(Each xfail's observed failure is its reason in `XFAILS` below.)
"""

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

from stepwire.emulation.chaos import FAULTS
from stepwire.emulation.chaos.rules import Decision
from tests.support.receiver import Answer, Received
from tests.workflow.conftest import REQUEST_TIMEOUT, Workflows
from workflows import wiring
from workflows.kernel.ids import new_id

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
    ("ingest", "PersistEvent"): "happy",
    ("ingest", "RejectEvent"): "rejected",
    ("ingest", "StartNotification"): "happy",
    ("notification", "Deliver"): "happy",
    ("notification", "MarkDelivered"): "happy",
    ("notification", "RecordRetryAfter"): "retry_after",
    ("notification", "RecordBackoff"): "backoff",
    ("notification", "HandOff"): "tail",
    ("notification", "StartLongTail"): "tail",
    ("notification", "Park"): "breaker",
    ("notification", "StartRecovery"): "breaker",
    ("notification", "RecordFailure"): "permanent",
    ("notification", "SendToDeadLetterQueue"): "permanent",
    ("long-tail", "Deliver"): "tail",
    ("long-tail", "MarkDelivered"): "tail",
    ("long-tail", "RecordRetryAfter"): "tail_retry_after",
    ("long-tail", "RecordBackoff"): "tail_backoff",
    ("long-tail", "Park"): "breaker",
    ("long-tail", "StartRecovery"): "breaker",
    ("long-tail", "RecordFailure"): "tail_permanent",
    ("long-tail", "SendToDeadLetterQueue"): "tail_permanent",
    ("recovery", "Probe"): "breaker",
    ("recovery", "Release"): "breaker",
    ("recovery", "HandOver"): "breaker",
    ("recovery", "RecordFailure"): "expired",
    ("recovery", "SendToDeadLetterQueue"): "expired",
}

_DELIVER_THROTTLED = ("issue 20: Deliver retries Lambda.TooManyRequestsException and "
                      "Lambda.ServiceException 3 times only; the 4th throttled attempt goes to "
                      "the States.ALL catch → RecordFailure → the notification is failed and "
                      "dead-lettered although the receiver answers 200")
_DELIVER_UNKNOWN = ("issue 20: Deliver does not retry Lambda.Unknown; its States.ALL catch "
                    "dead-letters the notification at the first attempt although the receiver "
                    "answers 200")
# (machine, state, error) → why it fails today.
XFAILS = {
    (machine, "Deliver", error): reason
    for machine in ("notification", "long-tail")
    for error, reason in (("Lambda.TooManyRequestsException", _DELIVER_THROTTLED),
                          ("Lambda.ServiceException", _DELIVER_THROTTLED),
                          ("Lambda.Unknown", _DELIVER_UNKNOWN))
}


def cases() -> list[Any]:
    params = []
    for machine, state, service, operation in all_tasks():
        for status, code, error in ERRORS[service]:
            case_id = f"{machine}.{state}-{error}"
            reason = XFAILS.get((machine, state, error))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(machine, state, service, operation, status, code,
                                       error, id=case_id, marks=marks))
    return params


# --- the fault aimed at one Task state ----------------------------------------------------

def current_task() -> tuple[str, str] | None:
    """(state machine ARN, state name) of the innermost Task being evaluated by this thread."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        state = frame.f_locals.get("self")
        env = frame.f_locals.get("env")
        if isinstance(state, StateTask) and env is not None:
            data = env.states.context_object.context_object_data
            return data["StateMachine"]["Id"], state.name
        frame = frame.f_back
    return None


class TaskFault:
    """Fails the first `attempts` calls of `service`/`operation` made by one Task state."""

    def __init__(self, machine_arn: str, state: str, service: str, operation: str,
                 status: int, code: str, attempts: int) -> None:
        self.target = (machine_arn, state)
        self.service, self.operation = service, operation.lower()
        self.error = (status, code)
        self.remaining = attempts
        self.fired = 0
        self._lock = threading.Lock()

    def wrap(self, decide: Callable[[str, str, str | None], Decision]
             ) -> Callable[[str, str, str | None], Decision]:
        def aimed(service: str, region: str, operation: str | None) -> Decision:
            if service == self.service and (operation or "").lower() == self.operation \
                    and current_task() == self.target:
                with self._lock:
                    if self.remaining > 0:
                        self.remaining -= 1
                        self.fired += 1
                        return Decision(0.0, self.error)
            return decide(service, region, operation)

        return aimed


@pytest.fixture
def aim(flows: Workflows, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TaskFault]]:
    def arm(machine: str, state: str, service: str, operation: str, status: int,
            code: str) -> TaskFault:
        resources = flows.runtime.resources
        assert resources is not None
        fault = TaskFault(resources.state_machine_arns[machine], state, service, operation,
                          status, code, FAULTED_ATTEMPTS)
        monkeypatch.setattr(FAULTS, "decide", fault.wrap(FAULTS.decide))
        # A real rule that never draws: every path now consults the registry for the service.
        FAULTS.replace([{"service": service, "operation": operation, "probability": 0,
                         "error": {"statusCode": status, "code": code}}])
        return fault

    yield arm
    FAULTS.replace([])  # faults off


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
DEAD_LETTERED = {"permanent", "tail_permanent", "expired"}


@dataclass
class Published:
    events: list[str]
    subscription_id: str
    ingest_arns: list[str]


def publish_one(flows: Workflows) -> Published:
    subscription = flows.subscribe()
    event = flows.event()
    return Published([event["id"]], subscription.id, [flows.publish(event)])


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
    arns = [flows.publish(events[0])]
    eventually(lambda: flows.long_tail_started(events[0]["id"], subscription.id),
               "the first event in the long tail")
    arns.append(flows.publish(events[1]))  # its first failure opens the breaker
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) >= 1,
               "a notification parked")
    arns.append(flows.publish(events[2]))
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == 3,
               "every notification parked")
    outage.up.set()
    return Published([e["id"] for e in events], subscription.id, arns)


def publish_to_a_dead_endpoint(flows: Workflows, settings: Callable[..., None]) -> Published:
    # The window: 150,000 s, 1.5 s scaled (long enough for all 3 to park first, even on a
    # loaded machine); the endpoint never answers.
    settings(retry_window_seconds=150_000, auto_disable_after_seconds=10**9,
             breaker_failure_threshold=2)
    flows.receiver.script = lambda _request: Answer(drop=True)
    subscription = flows.subscribe()
    events = [flows.event(n=i) for i in range(3)]
    return Published([e["id"] for e in events], subscription.id,
                     [flows.publish(e) for e in events])


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
    """Wait for every notification to end and every execution of the tenant to end."""
    def ended() -> Counter[str] | None:
        found = statuses(flows, published.events)
        if set(found) - {"delivered", "failed"} or running_for(flows, flows.tenant):
            return None
        return found

    try:
        return eventually(ended, "every notification ended, no execution running")
    except TimeoutError:
        return statuses(flows, published.events)  # asserted below, with what is left


def recorded_errors(flows: Workflows, machine: str, tenant: str,
                    arns: list[str] | None = None) -> set[str]:
    """The error names in the histories of the machine's executions for the tenant."""
    resources = flows.runtime.resources
    assert resources is not None
    if arns is None:
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
        flows: Workflows, settings: Callable[..., None], aim: Callable[..., TaskFault],
        machine: str, state: str, service: str, operation: str, status: int,
        code: str, error: str) -> None:
    scenario = SCENARIO[(machine, state)]
    flows.dead_letters()  # drained: tests run one at a time
    flows.refused()
    # Given the fault aimed at the Task for its first attempts
    fault = aim(machine, state, service, operation, status, code)

    # When one event (a few for the breaker paths) is published through the ingest
    if scenario == "rejected":
        event = {"type": "order.created", "data": {"case": new_id("rejected")}}
        arn = flows.publish(event)
        ended = flows.wait(arn)
        assert fault.fired >= 1, f"the fault never reached {machine}.{state}"
        assert error in recorded_errors(flows, machine, "", [arn])
        # Then the ingest ends refused and the event is in the ingress DLQ, once
        assert ended["status"] == "SUCCEEDED", ended
        letters = [letter for letter in flows.refused() if letter["execution_arn"] == arn]
        assert [(letter["error"], letter["event"]) for letter in letters] == [
            ("Event.Invalid", event)]
        return
    if scenario in SIMPLE:
        flows.receiver.script = answers(*SIMPLE[scenario])
        published = publish_one(flows)
    elif scenario == "breaker":
        published = publish_to_an_outage(flows, settings)
    else:
        published = publish_to_a_dead_endpoint(flows, settings)
    found = settled(flows, published)
    FAULTS.replace([])  # faults off

    # Then: the fault reached the Task, every notification ended, no execution runs
    assert fault.fired >= 1, f"the fault never reached {machine}.{state} ({scenario})"
    assert error in recorded_errors(flows, machine, flows.tenant)
    letters = flows.dead_letters()
    requests = flows.receiver.requests.get("/hook", [])
    webhook_ids: dict[str, set[str]] = {}
    for request in requests:
        webhook_ids.setdefault(json.loads(request.body)["id"], set()).add(
            request.headers["webhook-id"])
    count = len(published.events)
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
    assert all(len(ids) == 1 for ids in webhook_ids.values()), webhook_ids
    assert not running_for(flows, flows.tenant)


def test_every_task_has_a_scenario() -> None:
    tasks = {(machine, state) for machine, state, _, _ in all_tasks()}
    assert tasks == set(SCENARIO)
