"""Fault rules as the state machines see them: each service integration fails with the error
name AWS Step Functions reports, and Express executions run at least once (twice, on demand).
Tiny definitions, so nothing depends on Stepwire's own retry design."""

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from stepwire.emulation.chaos import FAULTS
from stepwire.emulation.chaos.hooks import _on_call
from stepwire.host.provision import ROLE_ARN
from tests.workflow.conftest import Workflows
from workflows.kernel.ids import new_id

pytestmark = pytest.mark.workflow


@pytest.fixture
def counted(flows: Workflows) -> Iterator[tuple[str, Counter[str]]]:
    """A function that counts its calls per (run, step); every rule removed afterwards."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(event: dict, _context: object) -> dict:
        with lock:
            calls[f"{event['run']}:{event['step']}"] += 1
        return event

    yield flows.runtime.lambdas.register(new_id("counted"), count), calls
    FAULTS.replace([])


def invoke(function: str, step: str, **more: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function, "Payload": {"run.$": "$.run",
                                                                 "step": step}},
            "ResultPath": None, **more}


def run(flows: Workflows, states: dict[str, Any], kind: str = "STANDARD") -> tuple[str, str]:
    # The test's own calls come from outside (a rule may name StartExecution).
    sfn = flows.runtime.client("stepfunctions")
    sfn.meta.events.unregister("before-call", _on_call)
    machine = sfn.create_state_machine(
        name=new_id("chaos"), roleArn=ROLE_ARN, type=kind,
        definition=json.dumps({"StartAt": next(iter(states)), "States": states}))
    name = new_id("run")
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name,
                                    input=json.dumps({"run": name}))["executionArn"]
    return arn, name


@pytest.mark.parametrize(("status", "code", "error"), [
    (429, "TooManyRequestsException", "Lambda.TooManyRequestsException"),
    (500, "ServiceException", "Lambda.ServiceException"),
    (500, "Unknown", "Lambda.Unknown"),
])
def test_a_lambda_invoke_task_fails_with_the_lambda_error_name(
        flows: Workflows, counted: tuple[str, Counter[str]], status: int, code: str,
        error: str) -> None:
    function, calls = counted
    FAULTS.replace([{"service": "lambda", "operation": "Invoke",
                     "error": {"statusCode": status, "code": code}}])

    arn, name = run(flows, {"Call": invoke(function, "call", End=True)})
    ended = flows.wait(arn)

    assert (ended["status"], ended["error"]) == ("FAILED", error)
    assert calls[f"{name}:call"] == 0  # refused before the function ran


def test_dynamodb_sqs_and_start_execution_tasks_fail_with_their_error_names(
        flows: Workflows) -> None:
    resources = flows.runtime.resources
    assert resources is not None
    FAULTS.replace([
        {"service": "dynamodb", "operation": "UpdateItem",
         "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}},
        {"service": "sqs", "operation": "SendMessage",
         "error": {"statusCode": 400, "code": "RequestThrottled"}},
        {"service": "states", "operation": "StartExecution",
         "error": {"statusCode": 400, "code": "ExecutionLimitExceeded"}}])
    tasks = {
        "dynamodb": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                     "Parameters": {"TableName": resources.table_name,
                                    "Key": {"pk": {"S": "chaos"}, "sk": {"S": "chaos"}},
                                    "UpdateExpression": "SET v = :v",
                                    "ExpressionAttributeValues": {":v": {"S": "x"}}},
                     "End": True},
        "sqs": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": resources.dead_letter_queue_url,
                               "MessageBody": "x"}, "End": True},
        "sfn": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": resources.notification_state_machine_arn,
                               "Input": {}}, "End": True},
    }

    errors = {kind: flows.wait(run(flows, {"Task": task})[0])["error"]
              for kind, task in tasks.items()}

    assert errors == {"dynamodb": "DynamoDB.ProvisionedThroughputExceededException",
                      # moto's interpreter names every SQS client error so
                      "sqs": "SQS.SdkClientException",
                      "sfn": "StepFunctions.ExecutionLimitExceededException"}


def settle(calls: Counter[str], key: str, expected: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while calls[key] < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # and no more than that
    return calls[key]


def test_an_express_duplicate_rule_runs_the_execution_twice(
        flows: Workflows, counted: tuple[str, Counter[str]]) -> None:
    function, calls = counted
    FAULTS.replace([{"service": "states", "operation": "StartExecution",
                     "express": "duplicate"}])

    arn, name = run(flows, {"Call": invoke(function, "call", End=True)}, kind="EXPRESS")

    assert settle(calls, f"{name}:call", 2) == 2
    assert flows.wait(arn)["status"] == "SUCCEEDED"


def test_an_express_restart_rule_runs_it_again_from_its_first_state(
        flows: Workflows, counted: tuple[str, Counter[str]]) -> None:
    function, calls = counted
    FAULTS.replace([{"service": "stepfunctions", "express": "restart"}])

    arn, name = run(flows, {"First": invoke(function, "first", Next="Second"),
                            "Second": invoke(function, "second", End=True)}, kind="EXPRESS")
    ended = flows.wait(arn)

    assert ended["status"] == "SUCCEEDED"
    assert (calls[f"{name}:first"], calls[f"{name}:second"]) == (2, 1)
    started = [e for e in flows.history(arn) if e["type"] == "ExecutionStarted"]
    assert len(started) == 1  # the first run's state is gone
    assert json.loads(ended["input"]) == {"run": name}
