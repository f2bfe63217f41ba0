"""The interpreter's executions as the host counts and prunes them."""

from typing import Any

from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.models import stepfunctions_parser_backends


def _state_machines() -> list[Any]:
    # With the interpreter on, moto keeps executions in the parser's backends.
    return [machine for account in stepfunctions_parser_backends.values()
            for backend in account.values() for machine in backend.state_machines]


def _running(execution: Any) -> bool:
    # An execution is listed a moment before moto gives it a status: it is starting.
    return execution.exec_status is None or execution.exec_status.value == "RUNNING"


def running_executions(state_machine_arn: str) -> int:
    return sum(1 for machine in _state_machines() if machine.arn == state_machine_arn
               for e in machine.executions if _running(e))


def prune_finished_executions(keep: int) -> int:
    """Keep the newest `keep` finished executions per state machine; returns how many went."""
    removed = 0
    for machine in _state_machines():
        finished = [e for e in machine.executions if not _running(e)]
        # One remove at a time: a start_execution may append concurrently.
        for execution in finished[:max(len(finished) - keep, 0)]:
            machine.executions.remove(execution)
            removed += 1
    parser_utils.TMP_THREADS[:] = [t for t in parser_utils.TMP_THREADS if t.is_alive()]
    return removed
