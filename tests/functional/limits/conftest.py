"""moto with its ASL interpreter on and the limits installed, as `stepwire local` runs it."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stepwire.emulation import limits
from stepwire.emulation.stepfunctions import clock

ROLE = "arn:aws:iam::123456789012:role/test"


class Machines:
    def __init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")

    def create(self, definition: dict[str, Any], kind: str = "STANDARD") -> str:
        name = f"limits-{time.monotonic_ns()}"
        return self.sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                             roleArn=ROLE, type=kind)["stateMachineArn"]

    def run(self, arn: str, execution_input: str = "{}", timeout: float = 60) -> dict[str, Any]:
        execution = self.sfn.start_execution(stateMachineArn=arn, input=execution_input,
                                             name=f"run-{time.monotonic_ns()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError("the execution did not end")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]


@pytest.fixture
def machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machines]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        limits.install()
        clock.set_time_scale(1.0)
        yield Machines()
