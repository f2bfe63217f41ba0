"""The admission queue: a fixed number of executions compute at once, in the order started."""

import threading

import pytest

from stepwire.host.admission import Admission

pytestmark = pytest.mark.unit


def test_a_burst_runs_in_order_never_more_than_the_pool_at_once() -> None:
    # Given a pool of two and ten pieces of work that each note how many run beside them
    admission = Admission(workers=2).start()
    running, most, order = 0, 0, []
    lock = threading.Lock()
    all_done = threading.Semaphore(0)
    gate = threading.Event()

    def work(i: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            order.append(i)
        gate.wait(5)
        with lock:
            running -= 1
        all_done.release()

    try:
        # When all ten are submitted at once
        for i in range(10):
            admission.submit(lambda i=i: work(i))
        # Then two compute and eight wait, visibly
        assert _eventually(lambda: admission.status() == (8, 2))
        gate.set()
        for _ in range(10):
            assert all_done.acquire(timeout=5)
    finally:
        admission.stop()
    assert most == 2
    assert sorted(order[:2]) == [0, 1] and order[2:] == list(range(2, 10))


def test_a_sleeping_execution_lends_its_slot() -> None:
    # Given a pool of one, held by work that then sleeps
    admission = Admission(workers=1).start()
    second_ran = threading.Event()

    def sleeper() -> None:
        with admission.lent():
            assert second_ran.wait(5)

    try:
        admission.submit(sleeper)
        # When other work is submitted while it sleeps
        admission.submit(second_ran.set)
        # Then that work runs without waiting for the sleeper to finish
        assert second_ran.wait(5)
    finally:
        admission.stop()


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        Admission(workers=0)


def _eventually(check, timeout: float = 5.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if check():
            return True
        done.wait(0.01)
    return False
