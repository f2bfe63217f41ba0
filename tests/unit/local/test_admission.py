"""The admission queue: a fixed number of executions compute at once, in the order started;
a tenant's, and an endpoint's, delivering executions at most their share."""

import threading
from collections import Counter

import pytest

from stepwire.config import LocalConfig
from stepwire.host.admission import Admission, delivery_key

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


def test_a_slow_tenant_holds_at_most_its_share_and_another_tenant_runs_at_once() -> None:
    # Given 8 workers, at most 4 delivering per tenant and 2 per endpoint, and a tenant whose
    # two receivers take for ever: 24 deliveries to each, started first
    admission = Admission(workers=8, per_tenant=4, per_endpoint=2).start()
    release = threading.Event()
    lock = threading.Lock()
    now: Counter = Counter()
    most: Counter = Counter()
    done: Counter = Counter()
    other_ran = threading.Event()

    def slow(key: tuple[str, str]) -> None:
        with lock:
            for part in (key[0], key):
                now[part] += 1
                most[part] = max(most[part], now[part])
        release.wait(10)
        with lock:
            for part in (key[0], key):
                now[part] -= 1
            done[key] += 1

    try:
        for endpoint in ("sub_a", "sub_b", "sub_c"):
            for _ in range(24):
                key = ("slow", endpoint)
                admission.submit(lambda key=key: slow(key), key)
        assert _eventually(lambda: admission.in_flight("slow") == 4)
        # When another tenant's delivery, and an ingest (no endpoint), are started after them
        admission.submit(other_ran.set, ("quick", "sub_q"))
        ingest_ran = threading.Event()
        admission.submit(ingest_ran.set)
        # Then they run at once, while the slow tenant's wait their turn
        assert other_ran.wait(2) and ingest_ran.wait(2)
        assert admission.in_flight("slow") == 4
        assert admission.status()[0] == 3 * 24 - 4
        release.set()
        # and nothing is dropped: every one of them runs, never more than the caps at once
        assert _eventually(lambda: sum(done.values()) == 72, timeout=10)
    finally:
        release.set()
        admission.stop()
    assert most["slow"] == 4
    assert max(most[("slow", e)] for e in ("sub_a", "sub_b", "sub_c")) == 2


def test_an_execution_that_sleeps_gives_back_its_endpoints_share() -> None:
    # Given one endpoint's share of one, held by an execution that then sleeps
    admission = Admission(workers=2, per_tenant=1).start()
    key = ("acme", "sub_1")
    order: list[str] = []
    sleeping, woke, second_ran = threading.Event(), threading.Event(), threading.Event()

    def sleeper() -> None:
        order.append(f"sleeper ({admission.in_flight('acme')} in flight)")
        with admission.lent():
            sleeping.set()
            assert second_ran.wait(5)
        order.append("sleeper resumed")
        woke.set()

    def second() -> None:
        order.append("second")
        second_ran.set()

    try:
        admission.submit(sleeper, key)
        assert sleeping.wait(5)
        # When another delivery to the same endpoint is started while it sleeps
        admission.submit(second, key)
        # Then it runs meanwhile (the share was lent), and the sleeper gets it back after
        assert woke.wait(5)
    finally:
        admission.stop()
    assert order == ["sleeper (1 in flight)", "second", "sleeper resumed"]


def test_a_resumed_execution_goes_before_new_work_queued_earlier() -> None:
    # Given one worker: a sleeper lends it to work that holds it, and a new execution queues
    admission = Admission(workers=1).start()
    order: list[str] = []
    lent, wake, holding, release = (threading.Event() for _ in range(4))

    def sleeper() -> None:
        with admission.lent():
            lent.set()
            assert wake.wait(5)
        order.append("resumed")

    def holder() -> None:
        holding.set()
        assert release.wait(5)

    try:
        admission.submit(sleeper)
        assert lent.wait(5)
        admission.submit(holder)
        assert holding.wait(5)
        admission.submit(lambda: order.append("new"))
        # When the sleeper wakes (after the new one queued) and the worker comes free
        wake.set()
        assert _eventually(lambda: admission.status() == (2, 1))
        release.set()
        # Then the half-done execution goes first
        assert _eventually(lambda: len(order) == 2)
    finally:
        admission.stop()
    assert order == ["resumed", "new"]


def test_a_wait_for_a_due_post_takes_a_worker_back_even_when_all_are_busy() -> None:
    # Given one worker, lent by a delivery waiting for its rate-limited slot, then taken
    admission = Admission(workers=1).start()
    lent, holding, release, posted = (threading.Event() for _ in range(4))

    def waiting_for_its_slot() -> None:
        with admission.lent(due=True):
            lent.set()
            assert holding.wait(5)
        posted.set()

    def holder() -> None:
        holding.set()
        assert release.wait(5)

    try:
        admission.submit(waiting_for_its_slot)
        assert lent.wait(5)
        admission.submit(holder)
        # When its slot comes while the only worker is busy
        # Then it goes on at once (its POST is due), not when the worker is free
        assert posted.wait(5) and not release.is_set()
    finally:
        release.set()
        admission.stop()


@pytest.mark.parametrize(("execution_input", "key"), [
    ('{"notification": {"tenant": "acme", "subscription_id": "sub_1", "event_id": "e"}}',
     ("acme", "sub_1")),
    ({"notification": {"tenant": "acme", "subscription_id": "sub_1"}, "attempt": 3},
     ("acme", "sub_1")),
    ('{"endpoint": {"tenant": "acme", "subscription_id": "sub_2"}}', ("acme", "sub_2")),
    ('{"tenant": "acme", "type": "order.created", "data": {}}', None),  # an ingest
    ("not json", None),
    ('["a list"]', None),
])
def test_a_delivering_execution_is_known_by_the_endpoint_its_input_names(
        execution_input, key) -> None:
    assert delivery_key(execution_input) == key


@pytest.mark.parametrize(("config", "caps"), [
    (LocalConfig(), (4, 4)),
    (LocalConfig(workers=2), (1, 1)),
    (LocalConfig(workers=32), (16, 16)),
    (LocalConfig(max_deliveries_per_endpoint=2), (4, 2)),
    (LocalConfig(max_deliveries_per_tenant=3, max_deliveries_per_endpoint=5), (3, 3)),
])
def test_the_caps_follow_the_workers_unless_set(config, caps) -> None:
    assert config.delivery_caps == caps


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
