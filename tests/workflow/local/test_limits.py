"""AWS's limits on the running engine: a payload over 262,144 bytes fails the execution with
States.DataLimitExceeded whatever it catches; an Express execution ends at 5 minutes of its
own time with States.Timeout (here 300 s × 1e-5 of waiting)."""

import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stepwire.host.provision import ROLE_ARN
from stepwire.runtime import REGION, LocalRuntime
from workflows.kernel.ids import new_id

pytestmark = pytest.mark.workflow

LIMIT = 262_144
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
RETRY_ALL = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
CAUGHT = {"Type": "Pass", "End": True}


def machine(runtime: LocalRuntime, states: dict[str, Any], start: str,
            kind: str = "STANDARD") -> str:
    return runtime.client("stepfunctions").create_state_machine(
        name=new_id("limits"), roleArn=ROLE_ARN, type=kind,
        definition=json.dumps({"StartAt": start, "States": states}))["stateMachineArn"]


def run(runtime: LocalRuntime, arn: str, execution_input: str = "{}") -> dict[str, Any]:
    sfn = runtime.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, input=execution_input,
                                    name=new_id("run"))["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError("the execution did not end")


def test_a_task_output_over_the_limit_fails_the_execution_under_a_states_all_catch(
        runtime: LocalRuntime) -> None:
    function = runtime.lambdas.register(new_id("big"), lambda event, _: "x" * event["size"])
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function, "Payload.$": "$"},
            "Retry": RETRY_ALL, "Catch": CATCH_ALL, "End": True}
    result = machine(runtime, {"Call": {**task, "OutputPath": "$.Payload"},
                               "Caught": CAUGHT}, "Call")
    # The connector's result fits; with ResultPath the state's output does not.
    output = machine(runtime, {"Call": {**task, "ResultSelector": {"p.$": "$.Payload"},
                                        "ResultPath": "$.copy"},
                               "Caught": CAUGHT}, "Call")

    too_big = run(runtime, result, json.dumps({"size": LIMIT}))
    fits = run(runtime, result, json.dumps({"size": LIMIT - 100}))
    output_too_big = run(runtime, output, json.dumps({"size": LIMIT // 2,
                                                      "pad": "x" * (LIMIT // 2)}))

    assert (too_big["status"], too_big["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert fits["status"] == "SUCCEEDED"
    assert (output_too_big["status"], output_too_big["error"]) == (
        "FAILED", "States.DataLimitExceeded")


def test_start_execution_input_over_the_limit_is_refused_everywhere(
        runtime: LocalRuntime) -> None:
    target = machine(runtime, {"Done": {"Type": "Succeed"}}, "Done")
    starter = machine(runtime, {"Start": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
        "Parameters": {"StateMachineArn": target, "Input.$": "$"},
        "Retry": RETRY_ALL, "Catch": CATCH_ALL, "End": True}, "Caught": CAUGHT}, "Start")
    too_big = json.dumps({"pad": "x" * LIMIT})
    over_http = boto3.client("stepfunctions", region_name=REGION,
                             endpoint_url=runtime.aws_endpoint, aws_access_key_id="local",
                             aws_secret_access_key="local")

    with pytest.raises(ClientError) as in_process:
        runtime.client("stepfunctions").start_execution(stateMachineArn=target, input=too_big)
    with pytest.raises(ClientError) as on_the_wire:
        over_http.start_execution(stateMachineArn=target, input=too_big)
    # From the ASL, the task's input after Parameters is over the limit first, as in AWS.
    from_the_asl = run(runtime, starter, json.dumps({"pad": "x" * (LIMIT - 100)}))

    for refused in (in_process.value, on_the_wire.value):
        assert refused.response["Error"]["Code"] == "ValidationException"
        assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (from_the_asl["status"], from_the_asl["error"]) == (
        "FAILED", "States.DataLimitExceeded")


def test_an_express_execution_past_five_minutes_of_waiting_times_out(
        runtime: LocalRuntime) -> None:
    waits = {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 200,
                                                    "Next": "Longer"},
                                           "Longer": {"Type": "Wait", "Seconds": 200,
                                                      "End": True}}}
    express = machine(runtime, {"Guarded": {"Type": "Parallel", "Branches": [waits],
                                            "Catch": CATCH_ALL, "End": True},
                                "Caught": CAUGHT}, "Guarded", kind="EXPRESS")
    standard = machine(runtime, {"Guarded": {"Type": "Parallel", "Branches": [waits],
                                             "End": True}}, "Guarded")

    timed_out = run(runtime, express)
    within_a_year = run(runtime, standard)

    assert (timed_out["status"], timed_out["error"]) == ("TIMED_OUT", "States.Timeout")
    assert within_a_year["status"] == "SUCCEEDED"
