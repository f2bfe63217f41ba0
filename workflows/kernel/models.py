"""The domain's data: what is stored, what the workflows pass between states."""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.kernel.payload_limits import EventData

# Anchored for pydantic's `pattern=` (Rust regex: `$` is the end of the text); Python code
# matches them with `re.fullmatch`, since `re.match(r"^a$", "a\n")` succeeds.
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
# An event-type filter: an exact type, a prefix ending in ".*", or "*".
EVENT_TYPE_FILTER_PATTERN = r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$"
# Ids end up in DynamoDB keys (joined with '#') and in execution names.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (a naive time is taken as UTC); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    PARKED = "parked"  # held in the table while the endpoint's breaker is open
    DELIVERED = "delivered"
    FAILED = "failed"


class Subscription(BaseModel):
    id: str
    tenant: str
    url: str
    event_types: list[str]
    description: str | None = None
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    # Deliveries per second to this endpoint (None: no limit), see workflows/delivery/rate_limit.py.
    rate_limit: int | None = None
    created_at: datetime
    updated_at: datetime

    def receives(self, event_type: str) -> bool:
        """Active, and one of its filters matches `event_type`: the event is fanned out to it."""
        return self.status is SubscriptionStatus.ACTIVE and \
            any(matches(event_type, f) for f in self.event_types)


class SigningSecret(BaseModel):
    """One `whsec_` secret; a rotated-out secret keeps signing until `expires_at`."""

    value: str
    expires_at: datetime | None = None


class Event(BaseModel):
    id: str = Field(pattern=ID_PATTERN)
    tenant: str = Field(pattern=TENANT_PATTERN)
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=128)
    data: dict[str, Any]
    created_at: datetime


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = None
    # The execution that made the attempt (Express keeps no history to ask later).
    execution_arn: str | None = None


class WaitReason(StrEnum):
    """Why a notification waits for its next attempt."""

    BACKOFF = "backoff"  # the retry schedule's next step (jitter included)
    RETRY_AFTER = "retry_after"  # the receiver's Retry-After
    RATE_LIMITED = "rate_limited"  # the endpoint's rate limit: its turn in a later second
    PARKED = "parked"  # its endpoint's breaker is open: not before the endpoint's next probe
    DISABLED = "disabled"  # parked, and the breaker disabled the subscription: until re-enabled


class RecordedWait(BaseModel):
    """A wait before the next attempt, as the workflow recorded it when it decided it: the
    seconds the workflow declares (locally, `--retry-time-scale` shortens them)."""

    decided_at: datetime
    wait_seconds: float
    reason: WaitReason


class Notification(BaseModel):
    tenant: str
    event_id: str
    subscription_id: str
    status: NotificationStatus
    webhook_id: str
    execution_arn: str | None = None
    updated_at: datetime
    attempts: list[Attempt] = []
    next_attempt: RecordedWait | None = None


class NotificationTarget(BaseModel):
    """The input of one notification execution: small, the event itself stays in the table."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    event_id: str
    subscription_id: str
    webhook_id: str
    execution_name: str


class DeliveryRequest(BaseModel):
    """What the Deliver task receives: the target and the 0-based attempt number."""

    notification: NotificationTarget
    attempt: int = Field(ge=0)
    execution_arn: str | None = None
    # When the execution started: a rate-limited wait says when it would end, so the fast
    # path can tell whether it still fits in its Express window.
    execution_started_at: datetime | None = None


class DeliveryResult(BaseModel):
    status_code: int
    latency_ms: int


class FailureReport(BaseModel):
    """What the RecordFailure task receives: the target, the caught error and the execution."""

    notification: NotificationTarget
    error: str
    cause: str | None = None
    execution_arn: str


class DeadLetterView(BaseModel):
    """A dead letter as the API lists it."""

    event_id: str
    subscription_id: str
    error: str
    cause: str | None
    execution_arn: str
    failed_at: datetime


class DeadLetter(DeadLetterView):
    """The DLQ message body: enough to find, explain and restart a failed notification."""

    tenant: str


class PublishedEvent(BaseModel):
    """An event as it enters the ingest workflow, from the API or from EventBridge."""

    tenant: str = Field(pattern=TENANT_PATTERN)
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=128)
    data: EventData
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    # Set by the API (its 202 says when the event was accepted); else the ingest's time.
    created_at: datetime | None = None


def matches(event_type: str, event_type_filter: str) -> bool:
    """`order.created` matches `order.created`, `order.*` and `*`."""
    if event_type_filter == "*":
        return True
    if event_type_filter.endswith(".*"):
        return event_type.startswith(event_type_filter[:-1])
    return event_type == event_type_filter


def is_valid_filter(event_type_filter: str) -> bool:
    return re.fullmatch(EVENT_TYPE_FILTER_PATTERN, event_type_filter) is not None
