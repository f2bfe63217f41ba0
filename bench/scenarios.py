"""The cost scenarios, run on the local runtime, and what Step Functions counted for them.

Each scenario publishes one event as `POST /events` does (the API function's publish: the event
stored, its first page fanned out), waits until every execution it caused has ended, and returns
what ran: per state machine type, Standard state transitions and Express requests with their
billed duration, plus the meter's Lambda and DynamoDB counts. The publish's own seconds count as
the API function's; its request (and API Gateway's) is the ingress, the same in every design.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.metering import Meter, metering
from bench.receiver import Arrivals
from stepwire.runtime import LocalRuntime
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.kernel.settings import get_settings
from workflows.operations.events import PublishRequest, publish_event
from workflows.operations.subscriptions import NewSubscription, create_subscription

EXPRESS_BILLING_STEP = 0.1  # seconds
API_FUNCTION = "stepwire-api"


@dataclass
class Counts:
    notifications: int
    standard_transitions: int = 0
    standard_starts: int = 0
    express_requests: int = 0
    express_billed_seconds: float = 0.0
    lambda_invocations: dict[str, int] = field(default_factory=dict)
    lambda_seconds: dict[str, float] = field(default_factory=dict)
    write_units: float = 0.0
    read_units: float = 0.0
    sqs_messages: int = 0

    def pinned(self) -> dict[str, Any]:
        """The counts a change of the design changes (durations are machine-dependent)."""
        return {"standard_transitions": self.standard_transitions,
                "standard_starts": self.standard_starts,
                "express_requests": self.express_requests,
                "lambda_invocations": dict(sorted(self.lambda_invocations.items())),
                "write_units": self.write_units, "read_units": self.read_units,
                "sqs_messages": self.sqs_messages}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    subscriptions: int
    answers: Callable[[], Callable[[Any], tuple[int, dict[str, str]]]]


def _always(status: int) -> Callable[[Any], tuple[int, dict[str, str]]]:
    return lambda _request: (status, {})


def _first_then(first: int, then: int) -> Callable[[Any], tuple[int, dict[str, str]]]:
    seen: set[str] = set()

    def answer(request: Any) -> tuple[int, dict[str, str]]:
        webhook = request.headers.get("webhook-id", "")
        if webhook in seen:
            return then, {}
        seen.add(webhook)
        return first, {}

    return answer


SCENARIOS = (
    Scenario("happy", "delivered at the first attempt", 1, lambda: _always(200)),
    Scenario("one-5xx", "one 503, then 200 after the 5 s retry", 1,
             lambda: _first_then(503, 200)),
    Scenario("exhausted", "always 500: 8 attempts over the whole schedule, dead-lettered", 1,
             lambda: _always(500)),
    Scenario("fan-out-10", "one event to 10 subscriptions, each delivered at once", 10,
             lambda: _always(200)),
)


def run(runtime: LocalRuntime, receiver: Arrivals, scenario: Scenario,
        timeout: float = 120.0) -> Counts:
    resources = runtime.resources
    assert resources is not None
    sfn = runtime.client("stepfunctions")
    tenant = new_id("cost")
    receiver.answer = scenario.answers()
    for _ in range(scenario.subscriptions):
        create_subscription(tenant, NewSubscription(url=receiver.url, event_types=["*"]),
                            store=wiring.store(), policy=wiring.target_policy())
    before = _execution_arns(sfn, resources.state_machine_arns)
    request = PublishRequest(type="order.created", data={"order": 42, "items": ["a", "b"]})
    with metering() as meter:
        started = time.perf_counter()
        publish_event(tenant, request, None, fan_out=wiring.fan_out(),
                      max_data_bytes=get_settings().max_event_data_bytes,
                      idempotency=wiring.publish_idempotency())
        meter.ran(API_FUNCTION, time.perf_counter() - started)
        executions = _wait_for_all(sfn, resources.state_machine_arns, before, timeout)
        return _counts(sfn, scenario.subscriptions, executions, meter)


def _execution_arns(sfn: Any, machines: dict[str, str]) -> set[str]:
    return {e["executionArn"] for arn in machines.values()
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for e in page["executions"]}


def _wait_for_all(sfn: Any, machines: dict[str, str], before: set[str],
                  timeout: float) -> list[tuple[str, dict]]:
    """(machine type, described execution) of every execution started since `before`, once
    none of them runs any more (a hand-off starts one late: wait for quiet, twice)."""
    types = {arn: sfn.describe_state_machine(stateMachineArn=arn)["type"]
             for arn in machines.values()}
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        found = [(types[arn], e) for arn in machines.values()
                 for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
                 for e in page["executions"] if e["executionArn"] not in before]
        running = any(e["status"] == "RUNNING" for _, e in found)
        quiet = 0 if running or not found else quiet + 1
        if quiet >= 3:
            return found
        time.sleep(0.1)
    raise TimeoutError("the scenario's executions did not end")


def _counts(sfn: Any, notifications: int, executions: list[tuple[str, dict]],
            meter: Meter) -> Counts:
    counts = Counts(notifications=notifications)
    for machine_type, execution in executions:
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        if machine_type == "STANDARD":
            counts.standard_starts += 1
            counts.standard_transitions += standard_transitions(history)
        else:
            counts.express_requests += 1
            counts.express_billed_seconds += _billed(express_seconds(
                sfn.describe_execution(executionArn=execution["executionArn"]), history))
        counts.sqs_messages += sum(1 for e in history if e.get("type") == "TaskSucceeded"
                                   and e["taskSucceededEventDetails"]["resource"]
                                   == "sendMessage")
    counts.lambda_invocations = dict(meter.invocations)
    counts.lambda_seconds = dict(meter.lambda_seconds)
    counts.write_units, counts.read_units = meter.write_units, meter.read_units
    return counts


def standard_transitions(history: list[dict]) -> int:
    """Billed transitions: every state entered, and every retry of a task (a retry is a
    transition of its own)."""
    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
    scheduled = sum(1 for e in history if e["type"] == "TaskScheduled")
    task_entries = sum(1 for e in history if e["type"] == "TaskStateEntered")
    return entered + max(scheduled - task_entries, 0)


def express_seconds(described: dict, history: list[dict]) -> float:
    """The execution's duration in the workflow's own time: waits count at their nominal
    length, not at the runtime's compressed one."""
    elapsed = (described["stopDate"] - described["startDate"]).total_seconds()
    entered: dict[str, Any] = {}
    for event in history:
        if event["type"] == "WaitStateEntered":
            details = event["stateEnteredEventDetails"]
            entered = {"at": event["timestamp"], "input": json.loads(details["input"]),
                       "name": details["name"]}
        elif event["type"] == "WaitStateExited" and entered:
            state_input = entered["input"]
            nominal = state_input.get("wait_seconds") if entered["name"] == "WaitBackoff" \
                else state_input.get("report", {}).get("retry_after", 0)
            elapsed += nominal - (event["timestamp"] - entered["at"]).total_seconds()
            entered = {}
    return elapsed


def _billed(seconds: float) -> float:
    return math.ceil(max(seconds, 0.001) / EXPRESS_BILLING_STEP) * EXPRESS_BILLING_STEP
