"""The state machines are data: their placeholders, retry policy and schedule, checked."""

import json
import re
from pathlib import Path

import pytest

from workflows import store
from workflows.local.provision import STATEMACHINES_DIR, render_definition

pytestmark = pytest.mark.unit

PLACEHOLDERS = {
    "ingest": {"IngestFunctionArn", "NotificationStateMachineArn"},
    "notification": {"DeliverFunctionArn", "RecordFailureFunctionArn", "TableName",
                     "DeadLetterQueueUrl"},
}


def load(name: str) -> dict:
    return json.loads((STATEMACHINES_DIR / f"{name}.asl.json").read_text())


def states(definition: dict) -> dict:
    """All states, those of Map item processors included."""
    found = dict(definition["States"])
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            found.update(states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_placeholders_are_exactly_what_the_runtime_fills(name: str) -> None:
    text = (STATEMACHINES_DIR / f"{name}.asl.json").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == PLACEHOLDERS[name]
    rendered = render_definition(name, {p: f"value-of-{p}" for p in PLACEHOLDERS[name]})
    assert "${" not in rendered
    json.loads(rendered)
    with pytest.raises(KeyError, match="needs values for"):
        render_definition(name, {})


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_every_task_retries_transient_failures(name: str) -> None:
    for state_name, state in states(load(name)).items():
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{name}.{state_name} has no Retry"


def test_schedule_is_eight_attempts_over_at_least_24_hours_with_jitter() -> None:
    definition = load("notification")["States"]
    expression = definition["PickBackoff"]["Parameters"]["wait_seconds.$"]
    low, high = (list(map(int, a.split(","))) for a in re.findall(r"States\.Array\(([^)]*)\)",
                                                                  expression))
    assert low == [5, 300, 1800, 7200, 18000, 36000, 36000]  # the contract's schedule
    assert all(h == int(lo * 1.2) for lo, h in zip(low, high, strict=True))  # up to +20%
    assert sum(low) >= 24 * 3600
    [limit] = [c for c in definition["AttemptsLeft"]["Choices"] if c["Variable"] == "$.attempt"]
    assert limit["NumericGreaterThanEquals"] == len(low) + 1 == 8


def test_retryable_errors_loop_and_everything_else_dead_letters() -> None:
    deliver = load("notification")["States"]["Deliver"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in deliver["Catch"]}
    assert catches == {("Delivery.Retryable",): "CountAttempt", ("States.ALL",): "RecordFailure"}
    lambda_retry = deliver["Retry"][0]
    assert all(e.startswith("Lambda.") for e in lambda_retry["ErrorEquals"])
    assert lambda_retry["MaxAttempts"] == 3


def test_the_failure_path_ends_in_fail_after_the_dead_letter_queue() -> None:
    definition = load("notification")["States"]
    assert definition["RecordFailure"]["Next"] == "SendToDeadLetterQueue"
    assert definition["SendToDeadLetterQueue"]["Next"] == "Failed"
    assert definition["Failed"]["Type"] == "Fail"


def test_mark_delivered_writes_the_stores_status_attribute() -> None:
    mark = load("notification")["States"]["MarkDelivered"]["Parameters"]
    assert mark["ExpressionAttributeNames"]["#status"] == store.STATUS
    assert store.DELIVERED_AT in mark["UpdateExpression"]


def test_files_are_where_the_runtime_and_the_stack_read_them() -> None:
    assert {p.name for p in Path(STATEMACHINES_DIR).glob("*.asl.json")} == {
        "ingest.asl.json", "notification.asl.json"}
