"""The rate limit's rules (GCRA): POSTs one interval apart at least, so that no window of
one second, wherever it starts, holds more than the rate; a delivery whose slot is too far
ahead waits whole seconds and comes back in time for it (locally shortened like every wait of
the workflows)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support.rate_windows import most_in_one_second
from workflows.delivery.rate_limit import (
    MAX_RATE_LIMIT,
    SEND_AHEAD,
    SLACK,
    WAKE_EARLY,
    Pacing,
)
from workflows.operations.subscriptions import (
    NewSubscription,
    SubscriptionChanges,
    SubscriptionView,
)

pytestmark = pytest.mark.unit

NOW = 1_795_780_800.4  # epoch seconds, 0.4 s into a second


def paced(arrivals: list[float], pacing: Pacing) -> list[float]:
    """The slots GCRA gives deliveries arriving at these times (the TAT moves one interval)."""
    tat = None
    slots = []
    for now in sorted(arrivals):
        slot = pacing.slot(tat, now)
        tat = slot + pacing.interval
        slots.append(slot)
    return slots


@given(rate=st.integers(1, MAX_RATE_LIMIT),
       arrivals=st.lists(st.floats(0, 30), min_size=1, max_size=300))
def test_no_window_of_one_second_holds_more_than_the_rate(rate, arrivals) -> None:
    # Given deliveries arriving at any times: bursts, trickles, pauses
    # When each takes its slot
    slots = paced([NOW + a for a in arrivals], Pacing(rate))
    # Then no second, wherever it starts, holds more than the rate, and none leaves early
    assert most_in_one_second(slots) <= rate
    assert all(slot >= arrival for slot, arrival in zip(slots, sorted(NOW + a for a in arrivals),
                                                          strict=True))


@pytest.mark.parametrize("rate", [1, 5, 1000])
def test_two_seconds_on_a_boundary_hold_the_rate_where_counting_clock_seconds_did_not(
        rate) -> None:
    # Given twice the rate arriving at once at the end of a clock second (the old counter per
    # second let `rate` go now and `rate` more a few ms later, in the next clock second)
    arrivals = [NOW + 0.59] * (2 * rate)
    slots = paced(arrivals, Pacing(rate))
    # Then they are spread: any second holds at most the rate (less the slack's 9%), with
    # room for a POST that leaves a little after its slot
    assert rate / (1 + SLACK) <= most_in_one_second(slots) <= rate
    assert most_in_one_second(slots, window=1 + SLACK * 0.9) <= rate
    assert slots[rate] - slots[0] == pytest.approx(1 + SLACK, abs=1e-4)


def test_an_idle_endpoint_keeps_no_credit() -> None:
    pacing = Pacing(5)
    # A TAT long past is no burst allowance: the slot is now, the next one interval later
    assert pacing.slot(NOW - 60, NOW) == NOW
    assert pacing.slot(None, NOW) == NOW
    assert pacing.slot(NOW + 0.3, NOW) == NOW + 0.3
    assert pacing.interval == pytest.approx((1 + SLACK) / 5)


@given(ahead=st.floats(SEND_AHEAD + 1e-3, 3600), late=st.floats(0, WAKE_EARLY - 1e-3),
       scale=st.sampled_from([1.0, 0.01]))
def test_a_delivery_that_waits_comes_back_in_time_for_its_slot(ahead, late, scale) -> None:
    # Given a slot too far ahead to wait for in the task
    pacing = Pacing(5, time_scale=scale)
    slot = NOW + ahead * scale
    assert not pacing.sendable(slot, NOW)
    # When the workflow waits the whole seconds it is told, and comes back up to WAKE_EARLY
    # late (the Wait state's end, the invoke, the reads)
    wait = pacing.wait_seconds(slot, NOW)
    back = NOW + (wait + late) * scale
    # Then its slot is still ahead and close enough to wait for in the task
    assert wait >= 1 and isinstance(wait, int)
    assert pacing.sendable(slot, back)


def test_the_deliveries_ahead_are_counted_in_slots() -> None:
    pacing = Pacing(5)
    assert pacing.ahead(NOW, NOW) == 0
    assert pacing.ahead(NOW + 10 * pacing.interval, NOW) == 10


def test_the_local_time_scale_shortens_the_second_like_the_waits() -> None:
    # Given --retry-time-scale 0.01: a workflow second lasts 10 ms
    local = Pacing(5, time_scale=0.01)
    assert local.interval == pytest.approx(0.01 * (1 + SLACK) / 5)
    assert most_in_one_second(paced([NOW] * 20, local), window=0.01) <= 5
    assert local.sendable(NOW + SEND_AHEAD * 0.01, NOW)
    assert not local.sendable(NOW + SEND_AHEAD * 0.01 + 1e-4, NOW)


@pytest.mark.parametrize("rate", [0, -1, MAX_RATE_LIMIT + 1, 2.5, "5", True])
def test_a_rate_limit_is_a_whole_number_of_deliveries_per_second(rate) -> None:
    with pytest.raises(ValidationError, match="rate_limit"):
        NewSubscription(url="https://hooks.example/in", event_types=["*"], rate_limit=rate)
    with pytest.raises(ValidationError, match="rate_limit"):
        SubscriptionChanges(rate_limit=rate)


def test_a_rate_limit_is_optional_and_null_clears_it() -> None:
    assert NewSubscription(url="https://hooks.example/in", event_types=["*"]).rate_limit is None
    assert NewSubscription(url="https://hooks.example/in", event_types=["*"],
                           rate_limit=5).rate_limit == 5
    # PATCH: not sent leaves it, null clears it
    assert "rate_limit" not in SubscriptionChanges(status="paused").model_dump(exclude_unset=True)
    assert SubscriptionChanges(rate_limit=None).model_dump(exclude_unset=True) == {
        "rate_limit": None}
    assert "rate_limit" in SubscriptionView.model_json_schema()["required"]
