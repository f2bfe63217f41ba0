"""One admission queue in front of the engine: every execution (an ingest started by the API
or by EventBridge, a notification started by an ingest, a resumed one) waits its turn here,
and a fixed number of them compute at once.

moto gives each execution a thread that runs as soon as it starts: a burst of 1,000 events
meant thousands of runnable threads fighting for one GIL. Here an execution holds one of
`workers` slots while it computes, and lends it out while it sleeps (a Retry interval, a Wait
state): a notification waiting hours on an endpoint that is down never holds back new work.
StartExecution itself answers at once: the execution exists (RUNNING) and is journaled first.
"""

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from stepwire.emulation.stepfunctions import clock

_active: "Admission | None" = None
_holder = threading.local()


class Admission:
    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self.workers = workers
        self._slots = threading.Semaphore(workers)
        self._queue: deque[Callable[[], None]] = deque()
        self._queued = threading.Condition()
        self._stopped = False
        self._computing = 0
        self._count_lock = threading.Lock()
        self._dispatcher = threading.Thread(target=self._dispatch, name="stepwire-admission",
                                            daemon=True)

    def status(self) -> tuple[int, int]:
        """(executions queued, executions computing now)."""
        return len(self._queue), self._computing

    def submit(self, work: Callable[[], None]) -> None:
        with self._queued:
            self._queue.append(work)
            self._queued.notify()

    def start(self) -> "Admission":
        global _active
        _install_hooks()
        self._dispatcher.start()
        _active = self
        return self

    def stop(self) -> None:
        global _active
        if _active is self:
            _active = None
        with self._queued:
            self._stopped = True
            self._queued.notify()
        self._dispatcher.join(timeout=5)

    def _dispatch(self) -> None:
        while True:
            self._take_slot()  # a free slot first: what waits stays visible in the queue
            with self._queued:
                while not self._queue and not self._stopped:
                    self._queued.wait()
                if self._stopped:
                    self._give_slot()
                    return  # what is still queued is journaled: it resumes at the next start
                work = self._queue.popleft()
            threading.Thread(target=self._run, args=(work,), name="stepwire-execution",
                             daemon=True).start()

    def _take_slot(self) -> None:
        self._slots.acquire()

    def _give_slot(self) -> None:
        self._slots.release()

    def _count(self, change: int) -> None:
        with self._count_lock:
            self._computing += change

    def _run(self, work: Callable[[], None]) -> None:
        _holder.admission = self
        self._count(1)
        try:
            work()
        finally:
            self._count(-1)
            _holder.admission = None
            self._give_slot()

    @contextmanager
    def lent(self) -> Iterator[None]:
        """While the calling execution sleeps, its slot works for another."""
        self._count(-1)
        self._give_slot()
        try:
            yield
        finally:
            self._take_slot()
            self._count(1)


@contextmanager
def _sleeping() -> Iterator[None]:
    admission = getattr(_holder, "admission", None)
    if admission is None:  # not an execution's own thread (a Map iteration, a test)
        yield
        return
    with admission.lent():
        yield


_installed = False


def _install_hooks() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    start = ExecutionWorker.start

    def admitted_start(self: ExecutionWorker) -> None:
        if _active is None:
            return start(self)
        _active.submit(self._execution_logic)

    ExecutionWorker.start = admitted_start  # type: ignore[method-assign]  # patches moto
    clock.sleeping = _sleeping
