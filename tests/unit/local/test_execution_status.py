"""ListExecutions never meets an execution without a status (AWS lists every one with one):
moto's Execution reads RUNNING until its worker sets the status."""

from types import SimpleNamespace

import pytest
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution

from stepwire.emulation.stepfunctions import interpreter

pytestmark = pytest.mark.unit


def test_an_execution_being_started_is_running_and_a_set_status_is_kept() -> None:
    interpreter.fix_sfn_integration()
    starting = SimpleNamespace(exec_status=None)
    ended = SimpleNamespace(exec_status=ExecutionStatus.SUCCEEDED)
    assert Execution.status.fget(starting) == "RUNNING"  # type: ignore[attr-defined]
    assert Execution.status.fget(ended) == "SUCCEEDED"  # type: ignore[attr-defined]
