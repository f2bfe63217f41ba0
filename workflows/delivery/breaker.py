"""Endpoint health: a circuit breaker per endpoint (subscription), kept in the table.

closed → (a sustained run of retryable failures) → open → (a probe with a real parked
delivery) → half_open → closed on success, open again on failure. While it is open no
execution waits for the endpoint: notifications are parked in the table and one recovery
execution per open endpoint probes and, once it answers, releases them
(workflows/recovery/release.py).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from workflows.kernel.ids import execution_name, new_id
from workflows.kernel.settings import Settings


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # a probe delivery is under way


class EndpointHealth(BaseModel):
    """The stored health of one endpoint; a missing item is a healthy, closed endpoint."""

    breaker: BreakerState = BreakerState.CLOSED
    failure_streak: int = 0
    # The first failure of the current streak: how long the endpoint has been failing.
    failing_since: datetime | None = None
    last_error: str | None = None
    last_failure_at: datetime | None = None
    opened_at: datetime | None = None
    next_probe_at: datetime | None = None
    # The name of the endpoint's one recovery execution while it has one.
    recovery: str | None = None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.breaker is not BreakerState.CLOSED


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int
    auto_disable_after: timedelta
    retry_window: timedelta
    time_scale: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "BreakerConfig":
        scale = settings.time_scale
        return cls(failure_threshold=settings.breaker_failure_threshold,
                   auto_disable_after=timedelta(
                       seconds=settings.auto_disable_after_seconds * scale),
                   retry_window=timedelta(seconds=settings.retry_window_seconds * scale),
                   time_scale=scale)

    def should_open(self, health: EndpointHealth) -> bool:
        """A sustained run: `failure_threshold` notifications in a row whose first attempt
        failed with a retryable error, no 2xx since."""
        return (health.breaker is BreakerState.CLOSED
                and health.failure_streak >= self.failure_threshold)

    def should_disable(self, health: EndpointHealth, now: datetime) -> bool:
        """Only failures for `auto_disable_after` (Svix: 5 days)."""
        return (health.failing_since is not None and health.disabled_at is None
                and now - health.failing_since >= self.auto_disable_after)

    def scaled(self, seconds: float) -> timedelta:
        """A wait of the workflows as it passes here (the engine scales it locally)."""
        return timedelta(seconds=seconds * self.time_scale)


def recovery_name(tenant: str, subscription_id: str) -> str:
    """A new name for an endpoint's recovery execution (one per time its breaker opens)."""
    return execution_name("recovery", tenant, subscription_id, new_id("o"))


class HealthView(BaseModel):
    """`health` of GET /subscriptions/{id}."""

    breaker: BreakerState
    failure_streak: int
    last_error: str | None
    last_failure_at: datetime | None
    opened_at: datetime | None
    next_probe_at: datetime | None
    parked: int
    disabled_reason: str | None
    disabled_at: datetime | None

    @classmethod
    def of(cls, health: EndpointHealth, parked: int) -> "HealthView":
        return cls(parked=parked, **health.model_dump(exclude={"failing_since", "recovery"}))
