"""Express at-least-once, on demand: AWS may run an Express execution more than once. A rule
`{"service": "stepfunctions", "express": "duplicate" | "restart"}` makes it happen here.

- duplicate: the started execution runs twice at once, with the same input. The second run is
  invisible, as in AWS (its status and history are nobody's); what it does is real.
- restart: the run is stopped once its first state has exited, its state is dropped, and the
  execution starts again from its first state with the original input. History, status and
  output are those of the second run; the journal still holds it as one open execution.

Both act where moto builds an execution's worker, so every start counts: the API's, the
handlers', a `states:startExecution` task's.
"""

import datetime
from typing import Any

from moto.stepfunctions.parser.api import StateMachineType
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.backend.execution_worker_comm import (
    ExecutionWorkerCommunication,
)

from stepwire.emulation.chaos.rules import FAULTS

RESTART_ERROR = "Stepwire.ExpressRestarted"
_new_worker = Execution._get_start_execution_worker


class _Unseen(ExecutionWorkerCommunication):
    """The duplicate's end reports to nobody: the execution's record is the first run's."""

    def terminated(self) -> None:
        pass


class _RestartOnce(BaseExecutionWorkerCommunication):
    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        self.interrupted = False

    def terminated(self) -> None:
        worker = self.execution.exec_worker
        if self.interrupted and worker is not None and worker.env is not None \
                and isinstance(worker.env.program_state(), ProgramStopped):
            # Not an end: the execution starts over (and stays open in the journal).
            fresh = _new_worker(self.execution)
            self.execution.exec_worker = fresh
            fresh.start()
            return
        super().terminated()


def _stop_after_first_state(worker: ExecutionWorker, comm: _RestartOnce) -> None:
    make_env = worker._get_evaluation_environment

    def environment() -> Any:
        env = make_env()
        add_event = env.event_manager.add_event

        def watched(*args: Any, **kwargs: Any) -> Any:
            result = add_event(*args, **kwargs)
            event_type = kwargs.get("event_type", args[1] if len(args) > 1 else None)
            if not comm.interrupted and str(getattr(event_type, "value", event_type)) \
                    .endswith("StateExited"):
                comm.interrupted = True
                env.set_stop(stop_date=datetime.datetime.now(tz=datetime.UTC),
                             cause="restarted from its first state by a Stepwire chaos rule",
                             error=RESTART_ERROR)
            return result

        env.event_manager.add_event = watched  # type: ignore[method-assign]
        return env

    worker._get_evaluation_environment = environment  # type: ignore[method-assign]


def _worker(self: Execution) -> ExecutionWorker:
    worker = _new_worker(self)
    # moto keeps the type asked for in `state_machine.type` (its `sm_type` is always STANDARD).
    kind = getattr(self.state_machine, "type", self.sm_type)
    if not FAULTS.active or kind != StateMachineType.EXPRESS:
        return worker
    behaviour = FAULTS.express(self.region_name)
    if behaviour == "duplicate":
        twin = _new_worker(self)
        twin._execution_communication = _Unseen()  # type: ignore[misc]  # moto's Final
        twin.start()
    elif behaviour == "restart":
        comm = _RestartOnce(self)
        worker._execution_communication = comm  # type: ignore[misc]  # moto's Final
        _stop_after_first_state(worker, comm)
    return worker


def install() -> None:
    if Execution._get_start_execution_worker is not _worker:
        # moto's method replaced (monkeypatch); StartSyncExecution's subclass keeps its own.
        Execution._get_start_execution_worker = _worker  # type: ignore[method-assign]
