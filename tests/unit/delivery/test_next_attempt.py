"""When the next attempt is due, from what the workflow recorded or the endpoint's next probe."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.delivery.breaker import BreakerState, EndpointHealth
from workflows.delivery.next_attempt import next_attempt
from workflows.kernel.models import Notification, NotificationStatus, RecordedWait, WaitReason

pytestmark = pytest.mark.unit

DECIDED = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
PROBE = DECIDED + timedelta(minutes=2)


def notification(status: NotificationStatus, wait: RecordedWait | None = None) -> Notification:
    return Notification(tenant="t", event_id="e", subscription_id="s", status=status,
                        webhook_id="msg_1", updated_at=DECIDED, next_attempt=wait)


def health(**fields) -> EndpointHealth:
    return EndpointHealth(breaker=BreakerState.OPEN, next_probe_at=PROBE, **fields)


BACKOFF = RecordedWait(decided_at=DECIDED, wait_seconds=312, reason=WaitReason.BACKOFF)


def unused_health() -> EndpointHealth:
    raise AssertionError("only a parked notification reads its endpoint's health")


@pytest.mark.parametrize("status", [NotificationStatus.PENDING, NotificationStatus.DELIVERING])
def test_a_recorded_wait_is_due_its_seconds_after_it_was_decided(status) -> None:
    due = next_attempt(notification(status, BACKOFF), endpoint_health=unused_health)
    assert (due.at, due.reason) == (DECIDED + timedelta(seconds=312), WaitReason.BACKOFF)


def test_locally_the_wait_is_as_short_as_the_time_scale_makes_it() -> None:
    due = next_attempt(notification(NotificationStatus.DELIVERING, BACKOFF),
                       endpoint_health=unused_health, time_scale=0.01)
    assert due.at == DECIDED + timedelta(seconds=3.12)


@pytest.mark.parametrize("status", [NotificationStatus.DELIVERED, NotificationStatus.FAILED])
def test_a_finished_notification_waits_for_nothing_whatever_is_left_on_its_row(status) -> None:
    assert next_attempt(notification(status, BACKOFF), endpoint_health=unused_health) is None


def test_without_a_recorded_wait_nothing_is_due() -> None:
    assert next_attempt(notification(NotificationStatus.DELIVERING),
                        endpoint_health=unused_health) is None


def test_a_parked_notification_is_due_not_before_its_endpoints_next_probe() -> None:
    # The stale backoff record of its last wait does not count: the breaker decides now
    due = next_attempt(notification(NotificationStatus.PARKED, BACKOFF), endpoint_health=health)
    assert (due.at, due.reason) == (PROBE, WaitReason.PARKED)


def test_a_parked_notification_of_a_disabled_subscription_waits_for_a_re_enable() -> None:
    due = next_attempt(notification(NotificationStatus.PARKED),
                       endpoint_health=lambda: health(disabled_reason="only failures since …"))
    assert (due.at, due.reason) == (None, WaitReason.DISABLED)
