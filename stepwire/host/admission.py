"""One admission queue in front of the engine: every execution (an ingest started by the API
or by EventBridge, a notification started by an ingest, a resumed one) waits its turn here,
and a fixed number of them compute at once.

moto gives each execution a thread that runs as soon as it starts: a burst of 1,000 events
meant thousands of runnable threads fighting for one GIL. Here an execution holds one of
`workers` slots while it computes, and lends it out while it sleeps (a Retry interval, a Wait
state, the wait for a rate-limited slot): a notification waiting hours on an endpoint that is
down never holds back new work. StartExecution itself answers at once: the execution exists
(RUNNING) and is journaled first.

A delivering execution (notification, long tail, recovery: its input names the endpoint)
counts against its tenant and its endpoint while it computes: at most `per_tenant` and
`per_endpoint` of them at once. One over a cap waits here, nothing is dropped, and the next
work that fits runs meanwhile: a receiver that takes 10 s to answer holds at most the
endpoint's share of the workers, never every tenant's turn. A resumed execution goes before a
new one (it is half done, and its wait may be for a slot at a rate-limited endpoint).
"""

import itertools
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from stepwire.emulation.stepfunctions import clock
from workflows.delivery import rate_limit

_active: "Admission | None" = None
_holder = threading.local()
# (tenant, endpoint) of a delivering execution; None: counted against no cap.
Key = tuple[str, str] | None
# A wait for a time takes its slot back this long before (seconds).
REACQUIRE_AHEAD = 0.2


def delivery_key(execution_input: Any) -> Key:
    """The endpoint a delivering execution's input names (`notification` or `endpoint`)."""
    try:
        body = json.loads(execution_input) if isinstance(execution_input, str | bytes) \
            else execution_input
        target = body.get("notification") or body.get("endpoint")
        return (str(target["tenant"]), str(target["subscription_id"]))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


# An execution whose wait for a time is over (its rate-limited POST is due): it takes a worker
# even when all are busy (within its tenant's and endpoint's share), for one POST.
DUE, RESUMED, NEW = -1, 0, 1


@dataclass(order=True)
class _Entry:
    """Work waiting for a slot: a new execution (`work`) or a resumed one (`resumed`)."""

    # (DUE / RESUMED / NEW, arrival): due first, then resumed, then new; first come first.
    order: tuple[int, int]
    key: Key = field(compare=False)
    work: Callable[[], None] | None = field(compare=False, default=None)
    resumed: threading.Event = field(compare=False, default_factory=threading.Event)

    @property
    def line(self) -> tuple[int, Key]:
        return self.order[0], self.key


class Admission:
    def __init__(self, workers: int, per_tenant: int | None = None,
                 per_endpoint: int | None = None) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self.workers = workers
        self.per_tenant = per_tenant or workers
        self.per_endpoint = min(per_endpoint or workers, self.per_tenant)
        self._changed = threading.Condition()
        # By (resumed 0 / new 1, endpoint), each line first come first served.
        self._waiting: dict[tuple[int, Key], deque[_Entry]] = {}
        self._free = workers
        self._tenants: Counter[str] = Counter()
        self._endpoints: Counter[Key] = Counter()
        self._arrivals = itertools.count()
        self._stopped = False
        self._computing = 0
        self._dispatcher = threading.Thread(target=self._dispatch, name="stepwire-admission",
                                            daemon=True)

    def status(self) -> tuple[int, int]:
        """(executions queued, executions computing now)."""
        with self._changed:
            return sum(len(line) for line in self._waiting.values()), self._computing

    def in_flight(self, tenant: str) -> int:
        """The tenant's delivering executions computing now."""
        with self._changed:
            return self._tenants[tenant]

    def submit(self, work: Callable[[], None], key: Key = None) -> None:
        self._enqueue(_Entry((NEW, next(self._arrivals)), key, work=work))

    def start(self) -> "Admission":
        global _active
        _install_hooks()
        self._dispatcher.start()
        _active = self
        rate_limit.set_pause(_lending_sleep)
        return self

    def stop(self) -> None:
        global _active
        if _active is self:
            _active = None
            rate_limit.set_pause(None)
        with self._changed:
            self._stopped = True
            # What is still queued is journaled: it resumes at the next start. What was
            # resuming goes on, uncounted, as before the queue existed.
            for line in self._waiting.values():
                for entry in line:
                    if entry.work is None:
                        entry.resumed.set()
            self._changed.notify_all()
        self._dispatcher.join(timeout=5)

    def _enqueue(self, entry: _Entry) -> None:
        with self._changed:
            if self._stopped and entry.work is None:
                entry.resumed.set()  # stopping: it goes on uncounted
                return
            self._waiting.setdefault(entry.line, deque()).append(entry)
            self._changed.notify_all()

    def _fits(self, key: Key) -> bool:
        return key is None or (self._tenants[key[0]] < self.per_tenant
                               and self._endpoints[key] < self.per_endpoint)

    def _next(self) -> _Entry | None:
        """The first entry that fits, resumed ones first (a look at each endpoint's oldest)."""
        heads = [line[0] for (kind, key), line in self._waiting.items()
                 if (self._free > 0 or kind == DUE) and self._fits(key)]
        if not heads:
            return None
        entry = min(heads)
        line = self._waiting[entry.line]
        line.popleft()
        if not line:
            del self._waiting[entry.line]
        self._hold(entry.key)
        return entry

    def _hold(self, key: Key) -> None:
        self._free -= 1
        self._computing += 1
        if key is not None:
            self._tenants[key[0]] += 1
            self._endpoints[key] += 1

    def _release(self, key: Key) -> None:
        with self._changed:
            self._free += 1
            self._computing -= 1
            if key is not None:
                self._tenants[key[0]] -= 1
                self._endpoints[key] -= 1
            self._changed.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                entry = None
                while not self._stopped and (entry := self._next()) is None:
                    self._changed.wait()
                if entry is None:  # stopped
                    return
            if entry.work is None:
                entry.resumed.set()
            else:
                threading.Thread(target=self._run, args=(entry.work, entry.key),
                                 name="stepwire-execution", daemon=True).start()

    def _run(self, work: Callable[[], None], key: Key) -> None:
        _holder.admission, _holder.key = self, key
        try:
            work()
        finally:
            _holder.admission = None
            self._release(key)

    @contextmanager
    def lent(self, due: bool = False) -> Iterator[None]:
        """While the calling execution sleeps, its slot (and its place in its tenant's and
        endpoint's share) works for another; it then waits for one again (`due`: without
        waiting for a free worker)."""
        key = getattr(_holder, "key", None)
        self._release(key)
        try:
            yield
        finally:
            entry = _Entry((DUE if due else RESUMED, next(self._arrivals)), key)
            self._enqueue(entry)
            entry.resumed.wait()


@contextmanager
def _sleeping(due: bool = False) -> Iterator[None]:
    admission = getattr(_holder, "admission", None)
    if admission is None:  # not an execution's own thread (a Map iteration, a test)
        yield
        return
    with admission.lent(due):
        yield


def _lending_sleep(seconds: float) -> None:
    """A handler's wait for a time (a rate-limited slot): the execution lends its slot
    meanwhile, and asks for it back REACQUIRE_AHEAD early, so that a busy queue does not make
    it late (a POST late for its slot crowds the next one at the receiver)."""
    deadline = time.monotonic() + seconds
    if seconds > REACQUIRE_AHEAD:
        with _sleeping(due=True):
            time.sleep(seconds - REACQUIRE_AHEAD)
    time.sleep(max(0.0, deadline - time.monotonic()))


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
        details = self._evaluation_details.execution_details
        _active.submit(self._execution_logic, delivery_key(details.inpt))

    ExecutionWorker.start = admitted_start  # type: ignore[method-assign]  # patches moto
    clock.sleeping = _sleeping
