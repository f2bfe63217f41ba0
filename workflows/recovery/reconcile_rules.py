"""The reconciler's rules, as pure functions: when a notification is abandoned, which
execution ARNs can be asked whether they live, which notifications an event is missing.

One fact carries them: an Express execution lives at most 5 minutes (AWS ends it with
`States.Timeout`), and AWS cannot be asked about one (DescribeExecution does not support
Express executions). So a notification whose last write is older than the stale age and that
names an Express execution, or none, has no live execution; one that names a Standard
execution (the long tail, a recovery's probe) is alive exactly while DescribeExecution says
RUNNING.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from workflows.kernel.models import NotificationStatus, Subscription, SubscriptionStatus, matches

# The schedule, in the cloud (an EventBridge rule) and locally (a timer): one definition.
RECONCILE_EVERY_SECONDS = 300
EXPRESS_MAX_SECONDS = 300
# A row's last write may come from an Express run (the fan-out) that starts the execution in
# charge of it up to 5 minutes later, and that one lives 5 minutes more: 10 minutes, plus one
# for clocks and the start itself. Any later, nothing alive can still be on its way.
STALE_AFTER_SECONDS = 2 * EXPRESS_MAX_SECONDS + 60
# Each window starts this much before the last one ended (late writes, skewed clocks).
OVERLAP_SECONDS = 60
# The first run, with no checkpoint yet, looks this far back.
FIRST_LOOKBACK_SECONDS = 3600

OPEN_STATUSES = frozenset({NotificationStatus.PENDING.value, NotificationStatus.DELIVERING.value})
ALIVE = "RUNNING"


class Verdict(StrEnum):
    SETTLED = "settled"  # delivered, failed, parked: not the reconciler's (parked: its endpoint)
    FRESH = "fresh"  # written lately, or an attempt holds its lease: an execution may own it
    ASK = "ask"  # stale, in the hands of a Standard execution: alive if DescribeExecution says
    ABANDONED = "abandoned"  # stale, and no execution can still own it: restart it


def machine_of(execution_arn: str) -> str:
    """arn:aws:states:<region>:<account>:execution:<machine>:<name> (Standard) or
    …:express:<machine>:<name>:<id> (Express): the machine's name."""
    parts = execution_arn.split(":")
    return parts[6] if len(parts) > 6 else ""


def runs_as_express(execution_arn: str, express_machines: frozenset[str]) -> bool:
    """AWS names an Express execution `…:express:…`; the local engine names every execution
    `…:execution:…`, so the machine tells too."""
    if not execution_arn.startswith("arn:"):
        return True  # a bare name: only a notification's Deliver records one (no ARN given)
    parts = execution_arn.split(":")
    return (len(parts) > 5 and parts[5] == "express") or \
        machine_of(execution_arn) in express_machines


def judge(row: dict[str, Any], now: datetime, stale_after: timedelta,
          express_machines: frozenset[str]) -> Verdict:
    """A notification row (`status`, `updated_at`, `execution_arn`, `lease_until`)."""
    if row.get("status") not in OPEN_STATUSES:
        return Verdict.SETTLED
    lease_until = row.get("lease_until")
    if lease_until is not None and lease_until > now.timestamp():
        return Verdict.FRESH  # an attempt is under way (its POST may take the whole lease)
    updated_at = row.get("updated_at")
    if updated_at is not None and now - _aware(updated_at) < stale_after:
        return Verdict.FRESH
    arn = row.get("execution_arn")
    if not arn or runs_as_express(arn, express_machines):
        return Verdict.ABANDONED
    return Verdict.ASK


def missing_subscriptions(event_type: str, created_at: datetime,
                          subscriptions: list[Subscription],
                          present: set[str]) -> list[Subscription]:
    """The active subscriptions that match the event's type, existed before it and have no
    notification row of it: what its fan-out never reached."""
    return [s for s in subscriptions
            if s.status is SubscriptionStatus.ACTIVE and s.id not in present
            and s.created_at < created_at
            and any(matches(event_type, f) for f in s.event_types)]


def _aware(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"a time without its zone: {value}")
    return moment
