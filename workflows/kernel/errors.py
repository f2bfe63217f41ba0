"""Errors with stable names: the state machines match them in Retry and Catch.

A Lambda reports an unhandled exception as `errorType`, the class name; each class below
carries the dotted name the ASL uses (`Delivery.Retryable`), so the name is a contract.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StepwireError(Exception):
    """Base of the named errors. `details` travel as the JSON errorMessage."""

    error_name = "Stepwire.Error"

    def __init_subclass__(cls) -> None:
        # The Lambda runtime reports type(exc).__name__ as errorType: make it the stable name.
        cls.__name__ = cls.error_name

    def __init__(self, detail: str, **details: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.details = {k: v for k, v in details.items() if v is not None}

    def __str__(self) -> str:
        # The Lambda runtime reports str(exc) as errorMessage: the workflow parses it.
        return self.to_message()

    def to_message(self) -> str:
        """The errorMessage: JSON so the workflow can read fields such as retry_after."""
        return json.dumps({"detail": self.detail, **self.details}, separators=(",", ":"))


class InvalidEvent(StepwireError):
    error_name = "Event.Invalid"


class DeliveryRetryable(StepwireError):
    """The receiver may accept a later attempt (408, 429, 5xx, timeout, connection error)."""

    error_name = "Delivery.Retryable"


class DeliveryPermanent(StepwireError):
    """Retrying will not help (other 4xx, any 3xx, a target that is not allowed)."""

    error_name = "Delivery.Permanent"


class DeliveryGone(DeliveryPermanent):
    """410 Gone: the receiver asked us to stop; the subscription is disabled."""

    error_name = "Delivery.Gone"


class NotFound(StepwireError):
    error_name = "Stepwire.NotFound"


class InvalidTarget(StepwireError):
    """A subscription URL that is malformed or resolves to a forbidden address."""

    error_name = "Subscription.InvalidTarget"


class DeliveryAlreadyDone(StepwireError):
    """The notification is already delivered (a repeated execution): nothing to send."""

    error_name = "Delivery.AlreadyDelivered"


class DeliveryHeldElsewhere(StepwireError):
    """Another execution of the same notification is attempting it right now."""

    error_name = "Delivery.HeldElsewhere"


class DeliveryBreakerOpen(StepwireError):
    """The endpoint's circuit breaker is open: no attempt; the notification is parked."""

    error_name = "Delivery.BreakerOpen"


class DeliveryRateLimited(StepwireError):
    """The endpoint's rate limit is used up for now: no attempt; wait `wait_seconds`, then
    deliver (not a failed attempt: the retry schedule and the breaker do not count it)."""

    error_name = "Delivery.RateLimited"


class AwsFault(StepwireError):
    """An AWS call of a handler failed after the SDK's own retries (a throttle, a 5xx, a
    connection or timeout error): Stepwire's fault, never the receiver's. The workflows retry
    it without counting an attempt or touching the breaker, and dead-letter for it only at the
    retry window's end."""

    error_name = "Stepwire.AwsFault"


@contextmanager
def aws_errors_as_faults() -> Iterator[None]:
    """Raise any AWS SDK error of the block as Stepwire.AwsFault, with AWS's error code and the
    operation: the workflow must never read it as the receiver's answer."""
    from botocore.exceptions import BotoCoreError, ClientError  # loaded by boto3 already

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise AwsFault(f"AWS {exc.operation_name} failed: {code}", aws_error=code,
                       operation=exc.operation_name) from exc
    except BotoCoreError as exc:
        raise AwsFault(f"AWS call failed: {exc}", aws_error=type(exc).__name__) from exc
