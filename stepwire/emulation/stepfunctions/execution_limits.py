"""Limits on a whole execution, ended as AWS ends it.

- Standard: 25,000 events of history. The event that would be the 25,000th is not recorded:
  the execution fails there with `States.Runtime`, "The execution reached the maximum number
  of history events (25000).", and its ExecutionFailed is event 25,000 (AWS's history shows
  the same cut). Events are counted as moto's history records them.
- Express: 5 minutes in the workflow's own time. Waits (Wait states, Retry intervals) count
  what the workflow declared, however `--retry-time-scale` shortens them (side by side, at
  most their wall time over the scale); computing counts its wall time. A wait that would
  cross the limit is cut at it; the execution then ends TIMED_OUT with `States.Timeout`.
  Time counts from when the execution starts computing (the admission queue in front of it
  is this host's, not AWS's).

A limit reached stops the execution as StopExecution does: no new state starts, a task not
yet scheduled is not (its *Scheduled event fails the state with `States.Runtime`, which no
wildcard catches), what was in flight finishes. Only the closing event is recorded after it,
with the limit's error and cause, which DescribeExecution reports too.

Cost: one comparison per history event (plus a `monotonic()` for Express executions).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    ExecutionStatus,
    ExecutionTimedOutEventDetails,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from stepwire.emulation.stepfunctions import clock

HISTORY_LIMIT = 25_000
EXPRESS_SECONDS = 300.0
HISTORY_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_LIMIT})."
EXPRESS_CAUSE = (f"The Express execution ran longer than its maximum duration "
                 f"({EXPRESS_SECONDS:g} seconds).")
_CLOSING = frozenset({HistoryEventType.ExecutionFailed, HistoryEventType.ExecutionSucceeded,
                      HistoryEventType.ExecutionAborted, HistoryEventType.ExecutionTimedOut})
_RUNTIME = StatesErrorNameType.StatesRuntime.to_name()


def _event_details(key: str, details: Any) -> Any:
    return {key: details}  # an EventDetails with one member (a TypedDict of all of them)


class _Account:
    """One execution's measure, kept on its event manager (which its Map and Parallel frames
    share)."""

    def __init__(self, env: Any, express: bool) -> None:
        self.env = env
        self.express = express
        self.started = time.monotonic()
        self.failure: tuple[HistoryEventType, EventDetails, ExecutionStatus] | None = None
        self._lock = threading.Lock()
        # Waits side by side (Map iterations) make one window. A window counts the seconds its
        # waits declared, at most its wall time divided by the scale: a sleep's overshoot
        # (a GIL or a slot to take back) must not count 1/scale times.
        self._waits = 0
        self._window_began = 0.0
        self._window_declared = 0.0
        self._waited = 0.0  # wall seconds of closed windows
        self._credited = 0.0  # workflow seconds of closed windows

    def _window(self, now: float) -> tuple[float, float]:
        """(wall seconds, workflow seconds) of the open window."""
        if not self._waits:
            return 0.0, 0.0
        wall = now - self._window_began
        return wall, min(wall / clock.time_scale(), self._window_declared)

    def workflow_seconds(self, now: float) -> float:
        wall, credit = self._window(now)
        return now - self.started - self._waited - wall + self._credited + credit

    @contextmanager
    def wait(self, seconds: float) -> Iterator[float]:
        with self._lock:
            now = time.monotonic()
            allowed = max(min(seconds, EXPRESS_SECONDS - self.workflow_seconds(now)), 0.0)
            if self._waits == 0:
                self._window_began, self._window_declared = now, 0.0
            self._waits += 1
            self._window_declared += allowed
        try:
            yield allowed
        finally:
            with self._lock:
                if self._waits == 1:
                    wall, credit = self._window(time.monotonic())
                    self._waited += wall
                    self._credited += credit
                self._waits -= 1
        # 1 µs of slack: float rounding of a wait cut at the limit.
        if self.workflow_seconds(time.monotonic()) >= EXPRESS_SECONDS - 1e-6:
            self.time_out()

    def time_out(self) -> None:
        details = ExecutionTimedOutEventDetails(
            error=StatesErrorNameType.StatesTimeout.to_name(), cause=EXPRESS_CAUSE)
        if self._end(HistoryEventType.ExecutionTimedOut,
                     _event_details("executionTimedOutEventDetails", details),
                     ExecutionStatus.TIMED_OUT):
            self.env.set_timed_out()

    def history_full(self) -> None:
        details = ExecutionFailedEventDetails(error=_RUNTIME, cause=HISTORY_CAUSE)
        if self._end(HistoryEventType.ExecutionFailed,
                     _event_details("executionFailedEventDetails", details),
                     ExecutionStatus.FAILED):
            self.env.set_error(details)

    def _end(self, closing: HistoryEventType, details: EventDetails,
             status: ExecutionStatus) -> bool:
        with self._lock:
            if self.failure is not None:
                return False
            self.failure = (closing, details, status)
            return True


def _account(env: Any) -> _Account | None:
    return getattr(env.event_manager, "account", None) if env is not None else None


_add_event = EventManager.add_event


def _limited_add_event(self: EventManager, context: Any, event_type: HistoryEventType,
                       event_details: EventDetails | None = None, timestamp: Any = None,
                       update_source_event_id: bool = True) -> int:
    account: _Account | None = getattr(self, "account", None)
    if account is not None:
        if account.failure is None and event_type not in _CLOSING:
            if account.express:
                if account.workflow_seconds(time.monotonic()) >= EXPRESS_SECONDS:
                    account.time_out()
            elif self._event_id_gen._next_id >= HISTORY_LIMIT:
                account.history_full()
        if account.failure is not None:
            closing, details, _ = account.failure
            if event_type in _CLOSING:
                return _add_event(self, context, closing, details, timestamp,
                                  update_source_event_id)
            if event_type.endswith("Scheduled"):
                raise FailureEventException(failure_event=FailureEvent(
                    env=account.env, error_name=StatesErrorName(
                        typ=StatesErrorNameType.StatesRuntime),
                    event_type=event_type, event_details=details))
            return self._event_id_gen._next_id - 1  # not recorded: the execution is over
    return _add_event(self, context, event_type, event_details, timestamp,
                      update_source_event_id)


_environment = ExecutionWorker._get_evaluation_environment


def _is_express(worker: ExecutionWorker) -> bool:
    # moto hands every execution the type STANDARD: the machine's own type is read instead.
    details = worker._evaluation_details
    where = details.aws_execution_details
    backend = stepfunctions_parser_backends[where.account][where.region]
    arn = details.state_machine_details.arn
    machine = next((m for m in backend.state_machines if m.arn == arn), None)
    return getattr(machine, "type", "STANDARD") == "EXPRESS"


def _accounted_environment(self: ExecutionWorker) -> Any:
    env = _environment(self)
    env.event_manager.account = _Account(  # type: ignore[attr-defined]  # set in install()
        env, express=_is_express(self))
    return env


_reflect = BaseExecutionWorkerCommunication._reflect_execution_status


def _reflect_limit(self: BaseExecutionWorkerCommunication) -> None:
    _reflect(self)
    worker = self.execution.exec_worker
    account = _account(worker.env) if worker is not None else None
    if account is not None and account.failure is not None:
        _, details, status = account.failure
        reported: Any = next(iter(details.values()))
        self.execution.exec_status = status
        self.execution.error, self.execution.cause = reported["error"], reported["cause"]


_retrying = threading.local()  # the environment whose Retry interval this thread sleeps
_retrier_eval = RetrierDecl._eval_body


def _retrier_known(self: RetrierDecl, env: Any) -> None:
    _retrying.env = env
    try:
        _retrier_eval(self, env)
    finally:
        _retrying.env = None


@contextmanager
def _waiting(env: Any, seconds: float) -> Iterator[float]:
    account = _account(env if env is not None else getattr(_retrying, "env", None))
    if account is None or not account.express:
        yield seconds
        return
    with account.wait(seconds) as allowed:
        yield allowed


def install() -> None:
    # moto's methods replaced (monkeypatch), and the clock's hook around waits set.
    EventManager.account = None  # type: ignore[attr-defined]
    EventManager.add_event = _limited_add_event  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_environment = (  # type: ignore[method-assign]
        _accounted_environment)
    BaseExecutionWorkerCommunication._reflect_execution_status = (  # type: ignore[method-assign]
        _reflect_limit)
    RetrierDecl._eval_body = _retrier_known  # type: ignore[method-assign]
    clock.waiting = _waiting
