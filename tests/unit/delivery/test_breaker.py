"""The breaker's rules: when it opens, when the subscription is disabled, how times scale."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.delivery.breaker import BreakerConfig, BreakerState, EndpointHealth, HealthView
from workflows.kernel.settings import Settings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONFIG = BreakerConfig(failure_threshold=10, auto_disable_after=timedelta(days=5),
                       retry_window=timedelta(seconds=119_166), time_scale=1.0)


@pytest.mark.parametrize(("streak", "breaker", "opens"), [
    (9, BreakerState.CLOSED, False),
    (10, BreakerState.CLOSED, True),
    (50, BreakerState.OPEN, False),  # already open: not opened twice
    (50, BreakerState.HALF_OPEN, False),
])
def test_it_opens_on_a_run_of_failing_notifications(streak, breaker, opens) -> None:
    health = EndpointHealth(breaker=breaker, failure_streak=streak)
    assert CONFIG.should_open(health) is opens


@pytest.mark.parametrize(("failing_for", "disabled"), [
    (timedelta(days=5) - timedelta(seconds=1), False),
    (timedelta(days=5), True),
])
def test_only_failures_for_five_days_disable(failing_for, disabled) -> None:
    health = EndpointHealth(breaker=BreakerState.OPEN, failure_streak=3,
                            failing_since=NOW - failing_for)
    assert CONFIG.should_disable(health, NOW) is disabled


def test_a_disabled_or_healthy_endpoint_is_not_disabled_again() -> None:
    assert not CONFIG.should_disable(EndpointHealth(), NOW)
    already = EndpointHealth(failing_since=NOW - timedelta(days=9), disabled_at=NOW)
    assert not CONFIG.should_disable(already, NOW)


def test_the_local_time_scale_shortens_every_duration() -> None:
    settings = Settings(table_name="t", idempotency_table_name="i", dead_letter_queue_url="q",
                        ingest_state_machine_arn="a", notification_state_machine_arn="n",
                        recovery_state_machine_arn="r",
                        data_key_secret_id="d", jwt_secret_id="j", time_scale=0.01)
    config = BreakerConfig.from_settings(settings)
    assert config.auto_disable_after == timedelta(days=5) / 100
    assert config.retry_window == timedelta(seconds=1191.66)
    assert config.scaled(3600) == timedelta(seconds=36)


def test_the_api_view_hides_the_internal_fields() -> None:
    health = EndpointHealth(breaker=BreakerState.OPEN, failure_streak=12, recovery="r",
                            failing_since=NOW, last_error="HTTP 503", last_failure_at=NOW)
    view = HealthView.of(health, parked=7).model_dump()
    assert view["parked"] == 7 and view["breaker"] == "open"
    assert "recovery" not in view and "failing_since" not in view
