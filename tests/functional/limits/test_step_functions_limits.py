"""Step Functions: the 262,144-byte payload, 25,000 history events, Express's 5 minutes."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from stepwire.emulation.stepfunctions import clock
from tests.functional.limits.conftest import Machines

pytestmark = pytest.mark.functional

LIMIT = 262_144
PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
# Parameters that double the input: over the limit once the input is over half of it.
DOUBLED = {"a.$": "$", "b.$": "$"}
CAUGHT = {"Type": "Pass", "End": True}
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]


def sized(size: int, char: str = "x") -> str:
    """A JSON object of exactly `size` UTF-8 bytes."""
    filler = (size - len('{"a":""}')) // len(char.encode())
    return json.dumps({"a": char * filler}, ensure_ascii=False, separators=(",", ":"))


def test_start_execution_takes_262144_bytes_and_refuses_one_more(machines: Machines) -> None:
    arn = machines.create(PASS)

    accepted = machines.run(arn, sized(LIMIT))
    with pytest.raises(ClientError) as refused:
        machines.sfn.start_execution(stateMachineArn=arn, input=sized(LIMIT + 1))
    with pytest.raises(ClientError) as refused_utf8:  # 2 bytes a character
        machines.sfn.start_execution(stateMachineArn=arn, input=sized(LIMIT + 2, "é"))

    assert accepted["status"] == "SUCCEEDED"
    for error in (refused.value, refused_utf8.value):
        assert error.response["Error"]["Code"] == "ValidationException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "Member must have length less than or equal to 262144" in str(error)


def test_input_after_parameters_over_the_limit_is_not_caught_by_states_all(
        machines: Machines) -> None:
    arn = machines.create({"StartAt": "Send", "States": {
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                 "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
                                "MessageBody": DOUBLED},
                 "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                 "Catch": CATCH_ALL, "End": True},
        "Caught": CAUGHT}})

    failed = machines.run(arn, sized(LIMIT // 2 + 100))

    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.DataLimitExceeded"
    types = [e["type"] for e in machines.history(failed["executionArn"])]
    assert "TaskScheduled" not in types  # refused before the call, and never retried


def test_state_output_over_the_limit_fails_the_execution(machines: Machines) -> None:
    arn = machines.create({"StartAt": "Copy", "States": {
        "Copy": {"Type": "Parallel", "Branches": [PASS], "ResultPath": "$.copy",
                 "Catch": CATCH_ALL, "End": True},
        "Caught": CAUGHT}})

    failed = machines.run(arn, sized(LIMIT // 2 + 100))
    fits = machines.run(arn, sized(LIMIT // 2 - 100))

    assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert fits["status"] == "SUCCEEDED"


def test_map_item_over_the_limit_after_item_selector_fails_the_execution(
        machines: Machines) -> None:
    arn = machines.create({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items",
                 "ItemSelector": {"item.$": "$$.Map.Item.Value", "all.$": "$$.Execution.Input",
                                  "again.$": "$$.Execution.Input"},
                 "ItemProcessor": PASS, "Catch": CATCH_ALL, "End": True},
        "Caught": CAUGHT}})

    failed = machines.run(arn, json.dumps({"items": [1, 2], "pad": "x" * (LIMIT // 2)}))

    assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")


def test_states_runtime_is_not_caught_by_states_all(machines: Machines) -> None:
    arn = machines.create({"StartAt": "Missing", "States": {
        "Missing": {"Type": "Parallel", "Branches": [PASS], "InputPath": "$.absent",
                    "Catch": CATCH_ALL, "End": True},
        "Caught": CAUGHT}})

    failed = machines.run(arn, "{}")

    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")


def test_standard_history_ends_at_25000_events_with_states_runtime(machines: Machines) -> None:
    arn = machines.create({"StartAt": "Spin", "States": {
        "Spin": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [
            {"Variable": "$.stop", "IsPresent": True, "Next": "Done"}], "Default": "Spin"},
        "Done": {"Type": "Succeed"}}})

    failed = machines.run(arn, "{}", timeout=120)
    history = machines.history(failed["executionArn"])

    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")
    assert failed["cause"] == ("The execution reached the maximum number of history events "
                               "(25000).")
    assert len(history) == 25_000
    assert history[-1]["type"] == "ExecutionFailed" and history[-1]["id"] == 25_000
    assert history[-1]["executionFailedEventDetails"]["cause"] == failed["cause"]


@pytest.mark.parametrize("seconds", [301, 200])
def test_express_ends_at_five_minutes_of_workflow_time(machines: Machines,
                                                        seconds: int) -> None:
    """At scale 0.001 five minutes are 0.3 s of wall time; two Waits of 200 s cross them."""
    wait = {"Type": "Wait", "Seconds": seconds}
    arn = machines.create({"StartAt": "Guarded", "States": {
        "Guarded": {"Type": "Parallel", "Branches": [{"StartAt": "First", "States": {
            "First": {**wait, "Next": "Second"}, "Second": {**wait, "End": True}}}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": CAUGHT}}, kind="EXPRESS")
    clock.set_time_scale(0.001)
    began = time.monotonic()
    try:
        ended = machines.run(arn)
    finally:
        clock.set_time_scale(1.0)

    assert (ended["status"], ended["error"]) == ("TIMED_OUT", "States.Timeout")
    assert "maximum duration" in ended["cause"]
    assert 0.3 <= time.monotonic() - began < 2
    closing = machines.history(ended["executionArn"])[-1]
    assert closing["type"] == "ExecutionTimedOut"


def test_express_within_five_minutes_succeeds(machines: Machines) -> None:
    arn = machines.create({"StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": 290, "End": True}}}, kind="EXPRESS")
    clock.set_time_scale(0.001)
    try:
        ended = machines.run(arn)
    finally:
        clock.set_time_scale(1.0)

    assert ended["status"] == "SUCCEEDED"
