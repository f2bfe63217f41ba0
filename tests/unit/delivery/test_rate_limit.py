"""The rate limit's rules: which delivery of a second goes, how long the others wait, and
which second a time falls in (locally shortened like every wait of the workflows)."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from workflows.delivery.rate_limit import LEAD, MAX_RATE_LIMIT, SEND_MARGIN, Window, wait_seconds
from workflows.operations.subscriptions import (
    NewSubscription,
    SubscriptionChanges,
    SubscriptionView,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, 0, 400_000, tzinfo=UTC)


@pytest.mark.parametrize(("taken", "rate", "wait"), [
    (1, 5, 0), (5, 5, 0),  # within the rate: it goes now
    (6, 5, 1), (10, 5, 1),  # the next five: the next second
    (11, 5, 2), (40, 5, 7),
    (2, 1, 1), (3, 1, 2),
    (1000, 1000, 0), (1001, 1000, 1),
])
def test_the_first_rate_of_a_second_go_the_others_wait_by_their_place(taken, rate, wait) -> None:
    assert wait_seconds(taken, rate) == wait


def test_waiting_whole_seconds_lands_in_the_window_that_many_ahead() -> None:
    # Given a time in the middle of a second
    window = Window.at(NOW)
    # When a delivery waits k seconds from then
    later = [Window.at(NOW + timedelta(seconds=k)) for k in (1, 2, 7)]
    # Then it tries again k windows ahead, whatever the fraction of the second it started at
    assert [w.index - window.index for w in later] == [1, 2, 7]
    assert window.index == int(NOW.timestamp())
    assert window.ends_at == window.index + 1


def test_a_token_taken_at_the_end_of_a_second_counts_in_the_next_one() -> None:
    second = Window.at(NOW)
    # Early in a second: this second, already begun
    assert Window.for_token(NOW) == second and second.starts_at <= NOW.timestamp()
    # In its last quarter: the next second, whose start the POST waits for
    late = NOW + timedelta(seconds=1 - LEAD - 0.4 + 0.05)  # 0.4 s is NOW's fraction
    assert Window.for_token(late).index == second.index + 1
    assert 0 < Window.for_token(late).starts_at - late.timestamp() <= LEAD
    # and waiting k seconds from there lands k seconds further on
    assert Window.for_token(late + timedelta(seconds=3)).index == second.index + 4


def test_a_token_back_in_the_last_moment_of_its_second_is_not_sent_in_it() -> None:
    second = Window.at(NOW)
    assert second.still_sendable(second.ends_at - SEND_MARGIN - 0.01)
    assert not second.still_sendable(second.ends_at - SEND_MARGIN)
    assert not second.still_sendable(second.ends_at + 0.5)
    # shortened locally like the second itself
    local = Window.at(NOW, time_scale=0.01)
    assert not local.still_sendable(local.ends_at - SEND_MARGIN * 0.01, time_scale=0.01)


def test_the_local_time_scale_shortens_the_window_like_the_waits() -> None:
    # Given --retry-time-scale 0.01: a workflow second lasts 10 ms
    window = Window.at(NOW, time_scale=0.01)
    assert window.index == int(NOW.timestamp() * 100)
    assert Window.at(NOW + timedelta(milliseconds=10), time_scale=0.01).index == window.index + 1
    assert window.ends_at == pytest.approx((window.index + 1) * 0.01)


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
