"""A notification that failed: its dead letter composed and kept, its cause as a user reads it.

Delivery.* errors are the receiver's verdicts; any other error that reaches a dead letter (an
AWS fault that lasted to the retry window's end) is Stepwire's, and its cause says so.
"""

import json

from workflows.kernel import activity, observability
from workflows.kernel.models import (
    Attempt,
    DeadLetter,
    FailureReport,
    NotificationStatus,
    utc_now,
)
from workflows.storage import Store


def record_failure(report: FailureReport, *, store: Store) -> DeadLetter:
    """Compose the notification's dead letter, keep it, tenant-scoped, in the table (the API
    lists and redrives from there; the workflow sends it to the DLQ), then mark the
    notification failed: a run that stops between the two leaves it `delivering`, never
    failed without its dead letter."""
    cause = gave_up(store.attempts_of(report.notification), readable_cause(report.cause))
    if not caused_by_receiver(report.error):
        cause = (f"Stepwire's fault, not the receiver's: {report.error} kept it from the "
                 f"receiver until the retry window's end; {cause}")
    dead_letter = DeadLetter(
        tenant=report.notification.tenant, event_id=report.notification.event_id,
        subscription_id=report.notification.subscription_id, error=report.error,
        cause=cause, execution_arn=report.execution_arn, failed_at=utc_now())
    store.put_dead_letter(dead_letter, report.notification.webhook_id)
    store.set_notification_status(report.notification, NotificationStatus.FAILED,
                                  execution_arn=report.execution_arn)
    observability.notification_dead_lettered()
    activity.dead_lettered(report.notification, error=report.error, cause=dead_letter.cause)
    return dead_letter


def caused_by_receiver(error: str) -> bool:
    """The Delivery.* errors are the receiver's verdicts (its answers, its subscription, the
    window it let pass); anything else reaching a dead letter is Stepwire's own fault."""
    return error.startswith("Delivery.")


def gave_up(attempts: list[Attempt], last_error: str | None) -> str:
    """The dead letter's cause, as a user reads it: `gave up after 8 attempts over 27h 41m;
    last error: HTTP 500`."""
    count = len(attempts)
    if not count:  # e.g. the subscription was deleted before its first attempt
        return f"gave up before any attempt: {last_error or 'unknown'}"
    span = (attempts[-1].at - attempts[0].at).total_seconds() if count > 1 else 0.0
    last = last_error or attempts[-1].error or "unknown"
    tried = f"{count} attempt{'s' if count != 1 else ''}"
    return f"gave up after {tried} over {duration_text(span)}; last error: {last}"


def duration_text(seconds: float) -> str:
    """`0.4s`, `12s`, `5m 3s`, `27h 41m`, `2d 3h`: the two largest units."""
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next(i for i, (value, _) in enumerate(parts) if value)
    return " ".join(f"{value}{unit}" for value, unit in parts[first:first + 2] if value)


def readable_cause(cause: str | None) -> str | None:
    """A Lambda error's Cause is `{"errorMessage": "<json with detail>", ...}`: keep the detail."""
    if not cause:
        return cause
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError, TypeError):
        return cause
    try:  # Stepwire's errors: JSON with the detail; Lambda's own: the message itself
        return json.loads(message).get("detail", message)
    except (ValueError, AttributeError, TypeError):
        return message
