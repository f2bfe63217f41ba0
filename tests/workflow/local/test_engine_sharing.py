"""The engine parses a definition once and shares the program between its executions: each
execution must still count its own retries (they live in the execution's environment)."""

import json
import threading
from collections import Counter

import pytest

from stepwire.host.provision import ROLE_ARN
from tests.workflow.conftest import Workflows
from workflows.kernel.ids import new_id

pytestmark = pytest.mark.workflow

RETRIES = 2
EXECUTIONS = 24


class AlwaysFails(Exception):
    pass


def test_concurrent_executions_of_one_definition_count_their_own_retries(
        flows: Workflows) -> None:
    # Given a Task that always fails, retried RETRIES times, on a fresh definition
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def failing(event: dict, _context: object) -> dict:
        with lock:
            calls[event["run"]] += 1
        raise AlwaysFails("no")

    function = flows.runtime.lambdas.register(new_id("always-fails"), failing)
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"run.$": "$.run"}},
        "Retry": [{"ErrorEquals": ["AlwaysFails"], "IntervalSeconds": 1,
                   "MaxAttempts": RETRIES, "BackoffRate": 2}],
        "End": True}}}
    machine = flows.sfn.create_state_machine(name=new_id("sharing"), roleArn=ROLE_ARN,
                                             definition=json.dumps(definition))
    # When many executions of it run at once
    runs = [new_id("run") for _ in range(EXECUTIONS)]
    arns = [flows.sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=run,
                                      input=json.dumps({"run": run}))["executionArn"]
            for run in runs]
    # Then each fails after exactly its own first attempt and RETRIES retries
    assert [flows.wait(arn)["status"] for arn in arns] == ["FAILED"] * EXECUTIONS
    assert calls == dict.fromkeys(runs, 1 + RETRIES)
    for arn in arns:
        scheduled = [e for e in flows.history(arn) if e["type"] == "TaskScheduled"]
        assert len(scheduled) == 1 + RETRIES
