"""What keeps a long run's memory flat and its log readable.

- finished executions beyond a window are pruned, as are finished worker threads;
- moto kept every model object it ever made (each version of each DynamoDB item, a copy of
  the state machine per execution) in a list for its server's dashboard, which is not served
  here: nothing is kept there now;
- DynamoDB partitions unused for a while are packed (`dynamodb.at_rest`) and the freed heap
  handed back to the system;
- moto logs every caught error at length: only critical messages are kept.
"""

import ctypes
import logging
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from moto.core.common_models import BaseModel
from moto.core.model_instances import reset_model_data

from stepwire.emulation.dynamodb import at_rest
from stepwire.emulation.dynamodb.backend import state_lock
from stepwire.emulation.stepfunctions.executions import prune_finished_executions


def quiet_logging() -> None:
    for name in ("moto.stepfunctions", "moto.stepfunctions.parser", "werkzeug"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _untracked_new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> Any:
    return super(BaseModel, cls).__new__(cls)


def forget_model_objects() -> None:
    """moto's `BaseModel` appends every instance to its class's `instances_tracked`, so
    nothing it makes is ever freed: over 10,000 notifications that was most of the growth."""
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]  # patches moto
    reset_model_data()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`: hands the heap's free pages back to the system (None elsewhere)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class Pruner(threading.Thread):
    """Every `interval` seconds prunes finished executions and packs the DynamoDB partitions
    unused for `pack_after` seconds; every `trim_every` passes returns the freed heap to
    the system (glibc keeps it otherwise), so that memory stays flat."""

    def __init__(self, keep: int, interval: float = 2.0, pack_after: float = 10.0,
                 trim_every: int = 5) -> None:
        super().__init__(name="stepwire-pruner", daemon=True)
        self._keep = keep
        self._interval = interval
        self._pack_after = pack_after
        self._trim_every = trim_every
        self._stopped = threading.Event()

    def run(self) -> None:
        passes = 0
        while not self._stopped.wait(self._interval):
            prune_finished_executions(self._keep)
            with state_lock:
                at_rest.pack_partitions(self._pack_after)
            passes += 1
            trim = _malloc_trim()
            if trim is not None and passes % self._trim_every == 0:
                trim(0)

    def stop(self) -> None:
        self._stopped.set()
