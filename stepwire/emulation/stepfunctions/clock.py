"""The interpreter's sense of time: every wait of the workflows (Retry intervals and Wait
states) multiplied by one factor (`--retry-time-scale`), and an observer told of each Wait
state (the runtime's log lines). A sleeping execution lends its admission slot out (`sleeping`).
"""

import time as _time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

# What an execution's sleep runs inside: the admission queue lends the sleeper's slot out.
sleeping: Callable[[], AbstractContextManager] = nullcontext


@contextmanager
def _as_declared(env: Any, seconds: float) -> Iterator[float]:
    yield seconds


# Around each wait, inside `sleeping`: (the execution's environment, or None for a Retry
# interval; the workflow's seconds) → the seconds to wait. The Express duration limit
# (`execution_limits`) measures and shortens waits here.
waiting: Callable[[Any, float], AbstractContextManager[float]] = _as_declared


class _ScaledClock:
    """Stands in for the `time` module where the interpreter sleeps."""

    factor = 1.0

    def sleep(self, seconds: float) -> None:
        with sleeping(), waiting(None, seconds) as seconds:
            _time.sleep(seconds * self.factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


_clock = _ScaledClock()


# Told of every Wait state about to wait: (state name, the workflow's seconds, the state's input).
WaitObserver = Callable[[str, float, Any], None]
_wait_observers: list[WaitObserver] = []


def on_wait(observer: WaitObserver | None) -> None:
    """Set (or with None clear) the one observer of Wait states (the runtime's log lines)."""
    _wait_observers[:] = [observer] if observer else []


def _scaled_wait(self: Any, env: Any, wait_seconds: float) -> None:
    for observer in _wait_observers:
        try:
            state = (env.states.context_object.context_object_data.get("State") or {})
            observer(state.get("Name", "Wait"), wait_seconds, env.states.get_input())
        except Exception:  # a log line must never stop a workflow
            pass
    # A stopped execution sets the event and ends the wait early, as in moto's own version.
    if wait_seconds > 0:
        with sleeping(), waiting(env, wait_seconds) as wait_seconds:
            env.program_state_event.wait(wait_seconds * _clock.factor)


def time_scale() -> float:
    return _clock.factor


def set_time_scale(factor: float) -> None:
    """`factor` 0.01 makes every workflow wait 100 times shorter."""
    if factor <= 0:
        raise ValueError("the time scale must be positive")
    _clock.factor = factor
    # moto's `time` module and wait method replaced (monkeypatch).
    retrier_decl.time = _clock  # type: ignore[assignment]
    wait_function.WaitFunction._wait_interval = _scaled_wait  # type: ignore[method-assign]
