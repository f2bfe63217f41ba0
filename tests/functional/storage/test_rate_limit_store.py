"""The rate limit's records against emulated DynamoDB (GCRA): each delivery's slot is one
conditional UpdateItem of the endpoint's theoretical arrival time; POSTs sent at their slots
never put more than the rate in any second; a delivery that waits finds its slot reserved."""

import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stepwire.emulation.dynamodb import backend
from tests.support.rate_windows import most_in_one_second
from workflows.delivery.rate_limit import SEND_AHEAD, WAKE_EARLY, Pacing, Slot
from workflows.kernel.settings import get_settings
from workflows.storage import Store

pytestmark = pytest.mark.functional

NOW = 1_795_780_800.7  # epoch seconds: the store is told the time, so the test runs it


class Calls(Counter):
    """DynamoDB operations of one client, by name."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self[model.name] += 1


@pytest.fixture
def counted(aws: dict) -> Iterator[tuple[Store, Calls]]:
    settings = get_settings()
    client = boto3.client("dynamodb", region_name="us-east-1")
    yield (Store(client, settings.table_name, data_key_secret_id=settings.data_key_secret_id),
           Calls(client))


def take(store: Store, webhook_id: str, now: float, rate: int = 5,
         endpoint: str = "sub_rate") -> Slot:
    return store.take_delivery_slot("acme", endpoint, webhook_id, Pacing(rate), now)


def test_a_burst_is_paced_and_every_delivery_that_waits_finds_its_slot_held(counted) -> None:
    store, calls = counted
    # Given 40 deliveries to an endpoint limited to 5/s, all at once
    first = [take(store, f"msg_{n}", NOW) for n in range(40)]
    # Then those whose slot is near go now, the others are told to wait whole seconds
    going = [s for s in first if not s.wait]
    assert len(going) == 6  # slots 0 to 1.05 s ahead (SEND_AHEAD 1.25 s, 0.21 s apart)
    assert all(s.wait >= 1 for s in first if s.wait)
    assert [s.ahead for s in first if s.wait][:2] == [6, 7]
    # When each waiting one comes back after its wait, up to WAKE_EARLY late
    sends = [s.at for s in going]
    retried = 0
    for n, slot in enumerate(first):
        if slot.wait:
            back = NOW + slot.wait + random.uniform(0, WAKE_EARLY - 0.01)
            again = take(store, f"msg_{n}", back)
            retried += 1
            # Then its reserved slot is the one it gets, with no second wait
            assert (again.at, again.wait) == (slot.at, 0)
            assert back <= again.at <= back + SEND_AHEAD
            sends.append(again.at)
    # And the 40 POSTs, each sent at its slot, never put more than 5 in any second
    assert len(set(sends)) == 40 and retried == 34
    assert most_in_one_second(sends) <= 5
    # One read and one UpdateItem (of the TAT) per delivery; a reservation is a PutItem, and
    # its use an UpdateItem of the reservation instead of the TAT
    assert calls["BatchGetItem"] == 40 + 34
    assert calls["UpdateItem"] == 40 + 34
    assert calls["PutItem"] == 34


def test_a_delivery_back_too_early_keeps_its_reservation(counted) -> None:
    store, _ = counted
    for n in range(10):
        take(store, f"ahead_{n}", NOW)
    waiting = take(store, "late_comer", NOW)
    assert waiting.wait >= 1
    # Back a second before the wait was over: told to wait the rest, same slot
    early = take(store, "late_comer", NOW + waiting.wait - 1)
    assert early.at == waiting.at and early.wait >= 1
    # Back in time: its slot
    assert take(store, "late_comer", NOW + waiting.wait).at == waiting.at


def test_a_reservation_missed_is_not_used_late(counted) -> None:
    store, _ = counted
    for n in range(10):
        take(store, f"ahead_{n}", NOW)
    waiting = take(store, "slow", NOW)
    # Back after its slot passed (a long hand-off): a new slot, never the passed one
    late = waiting.at + 0.5
    again = take(store, "slow", late)
    assert again.at >= late


def test_an_idle_endpoint_starts_again_from_now_and_endpoints_count_alone(counted) -> None:
    store, _ = counted
    assert take(store, "a", NOW).at == NOW
    assert take(store, "b", NOW).at == pytest.approx(NOW + Pacing(5).interval)
    assert take(store, "c", NOW, endpoint="sub_other").at == NOW
    # A minute later the TAT has long passed: no credit was saved up
    later = [take(store, f"d_{n}", NOW + 60) for n in range(3)]
    assert [s.at - (NOW + 60) for s in later] == pytest.approx(
        [0, Pacing(5).interval, 2 * Pacing(5).interval])


def test_deliveries_racing_for_an_idle_endpoint_get_one_slot_each(counted) -> None:
    # moto alone reads an item for UPDATED_OLD outside its write: serialized as the local
    # runtime serves it (DynamoDB answers each UpdateItem atomically)
    backend.serialize_dynamodb()
    store, calls = counted
    # Given 16 deliveries asking at the same instant from 16 threads
    slots: list[float] = []
    barrier = threading.Barrier(16)

    def ask(n: int) -> None:
        barrier.wait()
        slots.append(take(store, f"race_{n}", NOW, rate=100).at)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each got its own slot, one interval apart, with at most two tries each
    interval = Pacing(100).interval
    assert sorted(round((s - NOW) / interval) for s in slots) == list(range(16))
    assert calls["UpdateItem"] <= 2 * 16
