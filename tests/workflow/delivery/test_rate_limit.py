"""The per-endpoint rate limit on the engine: deliveries beyond it wait (a Wait state, then
Deliver again) without a failed attempt, the retry schedule or the breaker counting them; a
wait too long for the fast path is waited in the long tail.

These tests run the engine at a slower time scale than the rest of the tier, so that the
limit's seconds are long enough to count arrivals in (the handlers follow the same scale).
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from stepwire.emulation.stepfunctions import clock
from tests.support.rate_windows import ARRIVAL_JITTER, most_in_one_second
from tests.workflow.conftest import TIME_SCALE, Workflows
from tests.workflow.recovery.test_endpoint_health import eventually, publish_many
from workflows import wiring
from workflows.delivery.breaker import BreakerState
from workflows.kernel import activity, observability
from workflows.kernel.models import NotificationStatus, SubscriptionStatus
from workflows.kernel.settings import get_settings
from workflows.storage import table
from workflows.storage.items import key, to_item
from workflows.storage.rate_limits import PACE, TAT

pytestmark = pytest.mark.workflow


@pytest.fixture
def time_scale(settings: Callable[..., None]) -> Iterator[Callable[[float], None]]:
    """Run the engine's waits and the handlers' durations at `scale` for one test."""

    def use(scale: float) -> None:
        settings(time_scale=scale)
        clock.set_time_scale(scale)

    yield use
    clock.set_time_scale(TIME_SCALE)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict], list[dict]]:
    """The activity lines and the metric records the handlers write."""
    lines: list[dict] = []
    metrics: list[dict] = []
    monkeypatch.setattr(activity, "_sink", lines.append)
    monkeypatch.setattr(observability, "_sink", metrics.append)
    return lines, metrics


def entered_states(flows: Workflows, event_ids: list[str], subscription_id: str) -> Counter:
    found: Counter = Counter()
    for event_id in event_ids:
        found.update(flows.entered(flows.notification_arn(event_id, subscription_id)))
    return found


def assert_delivered_once_without_a_failed_attempt(flows: Workflows, event_ids: list[str],
                                                   subscription_id: str) -> None:
    for event_id in event_ids:
        _, [notification] = flows.notification(event_id)
        assert notification.status is NotificationStatus.DELIVERED
        assert [a.status_code for a in notification.attempts] == [200], event_id
    health = wiring.store().endpoint_health(flows.tenant, subscription_id)
    assert (health.breaker, health.failure_streak, health.last_error) == (
        BreakerState.CLOSED, 0, None)


def test_deliveries_beyond_the_rate_wait_without_a_failed_attempt(
        flows: Workflows, time_scale, recorded) -> None:
    lines, metrics = recorded
    # Given real seconds, and an endpoint limited to 3 deliveries per second, whose receiver
    # has had a webhook already (a connection's first POST to a new address builds its pool
    # after the slot: about 20 ms here, more on a busy machine)
    time_scale(1.0)
    warm = flows.subscribe("/warm")
    publish_many(flows, 1)
    flows.receiver.wait_for("/warm", 1, timeout=30)
    wiring.store().set_subscription_status(flows.tenant, warm.id, SubscriptionStatus.PAUSED)
    subscription = flows.subscribe(rate_limit=3)

    # When 9 events are published to it at once
    event_ids = publish_many(flows, 9)

    # Then each arrives once, verified, at most 3 in any second, wherever it starts (less the
    # jitter of a busy machine between a POST's slot and its arrival)
    arrived = flows.receiver.wait_for("/hook", 9, timeout=60)
    assert all(r.verified for r in arrived)
    assert sorted(r.payload["id"] for r in arrived) == sorted(event_ids)
    assert len({r.headers["webhook-id"] for r in arrived}) == 9
    times = sorted(r.at for r in arrived)
    assert most_in_one_second(times, window=1 - ARRIVAL_JITTER) <= 3, times
    assert times[-1] - times[0] >= 2  # 9 at 3/s take two seconds and more
    for event_id in event_ids:
        flows.wait(flows.notification_arn(event_id, subscription.id))
    # and the waits were Wait states back to Deliver: no attempt counted, nothing handed off
    states = entered_states(flows, event_ids, subscription.id)
    assert states["WaitRateLimited"] >= 9 - 5  # slots 1.25 s ahead or nearer go at once
    assert states["Deliver"] == 9 + states["WaitRateLimited"]
    assert states["CountAttempt"] == states["HandOff"] == 0
    assert_delivered_once_without_a_failed_attempt(flows, event_ids, subscription.id)
    # and each wait was an activity line and a RateLimitedWaits count
    waits = [line for line in lines if line["activity"] == "delivery.wait"]
    assert len(waits) == states["WaitRateLimited"]
    assert all(line["why"].startswith("rate limited: the endpoint takes 3 deliveries/s")
               for line in waits)
    assert len([m for m in metrics if "RateLimitedWaits" in m]) == states["WaitRateLimited"]


def test_a_wait_too_long_for_the_fast_path_is_waited_in_the_long_tail(
        flows: Workflows, time_scale) -> None:
    # Given an endpoint limited to 1/s whose next 200 seconds are taken by others
    scale = 0.01
    time_scale(scale)
    subscription = flows.subscribe(rate_limit=1)
    db = flows.runtime.client("dynamodb")
    db.put_item(TableName=get_settings().table_name, Item={
        **key(table.rate_window_partition(flows.tenant, subscription.id), PACE),
        **to_item({TAT: Decimal(repr(time.time() + 200 * scale))})})

    # When an event is published to it
    [event_id] = publish_many(flows, 1)

    # Then the fast path hands the long wait to the long tail, which waits it and delivers
    flows.receiver.wait_for("/hook", 1, timeout=60)
    tail = flows.long_tail_arn(event_id, subscription.id)
    eventually(lambda: flows.long_tail_started(event_id, subscription.id), timeout=30)
    assert flows.wait(tail, timeout=60)["status"] == "SUCCEEDED"
    fast = flows.entered(flows.notification_arn(event_id, subscription.id))
    assert fast[:5] == ["Init", "Deliver", "ReadRateLimitCause", "ReadRateLimit",
                        "RateLimitWaitFits"]
    assert "HandOff" in fast and "WaitRateLimited" not in fast
    [handed_over] = flows.state_inputs(tail, "AttemptsLeft")
    assert handed_over["attempt"] == 0 and handed_over["report"]["wait_seconds"] >= 100
    assert "WaitRateLimited" in flows.entered(tail) and "CountAttempt" not in flows.entered(tail)
    assert_delivered_once_without_a_failed_attempt(flows, [event_id], subscription.id)
