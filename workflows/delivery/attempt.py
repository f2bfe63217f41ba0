"""The delivery use case: one signed POST of one event to one subscription, recorded.

prepare (load, check the target again) → call → record the attempt → classify the outcome.
"""

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime

from workflows import __version__
from workflows.delivery import http
from workflows.delivery.breaker import BreakerConfig, recovery_name
from workflows.delivery.rate_limit import Window, wait_seconds
from workflows.delivery.signing import signature_header
from workflows.delivery.target_guard import TargetPolicy, resolve_target
from workflows.kernel import activity, observability
from workflows.kernel.errors import (
    DeliveryAlreadyDone,
    DeliveryBreakerOpen,
    DeliveryGone,
    DeliveryHeldElsewhere,
    DeliveryPermanent,
    DeliveryRateLimited,
    DeliveryRetryable,
    InvalidTarget,
)
from workflows.kernel.models import (
    Attempt,
    DeadLetter,
    DeliveryRequest,
    DeliveryResult,
    FailureReport,
    NotificationStatus,
    RecordedWait,
    Subscription,
    SubscriptionStatus,
    WaitReason,
    utc_now,
)
from workflows.kernel.settings import Settings
from workflows.storage import Claim, Store

USER_AGENT = f"Stepwire/{__version__}"
RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
RETRY_AFTER_STATUS = frozenset({429, 503})


@dataclass(frozen=True)
class DeliveryConfig:
    policy: TargetPolicy
    connect_timeout: float
    request_timeout: float
    retry_after_cap: int
    # How long one attempt holds the notification against other executions of it.
    lease_seconds: int
    breaker: BreakerConfig
    # Locally, --retry-time-scale: the rate limit's second is that much shorter (1 in AWS).
    time_scale: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeliveryConfig":
        return cls(policy=TargetPolicy.from_settings(settings),
                   connect_timeout=settings.connect_timeout_seconds,
                   request_timeout=settings.request_timeout_seconds,
                   retry_after_cap=settings.retry_after_cap_seconds,
                   lease_seconds=int(settings.connect_timeout_seconds
                                     + settings.request_timeout_seconds) + 15,
                   breaker=BreakerConfig.from_settings(settings),
                   time_scale=settings.time_scale)


def deliver_notification(request: DeliveryRequest, *, store: Store, config: DeliveryConfig,
                         probe: bool = False) -> DeliveryResult:
    """Deliver once. Returns on 2xx; raises Delivery.Retryable / .Permanent / .Gone otherwise,
    Delivery.AlreadyDelivered / .HeldElsewhere when another execution of the same
    notification has delivered it or is attempting it (Express runs at least once), and
    Delivery.BreakerOpen, without an attempt, while the endpoint's breaker is open (unless this
    is the recovery's `probe`), and Delivery.RateLimited, without an attempt, while the
    endpoint's rate limit is used up (the probe, alone while the breaker is open, skips it).
    A Delivery.Retryable report carries the notification's `key`: the workflow records on
    that row when the next attempt is due."""
    try:
        return _deliver(request, store=store, config=config, probe=probe)
    except DeliveryRetryable as exc:
        exc.details["key"] = store.notification_key(request.notification)
        raise


def _deliver(request: DeliveryRequest, *, store: Store, config: DeliveryConfig,
             probe: bool) -> DeliveryResult:
    target = request.notification
    event, subscription, secrets, health = store.get_for_delivery(
        target.tenant, target.event_id, target.subscription_id)
    if event is None or subscription is None:
        missing = "event" if event is None else "subscription"
        raise DeliveryPermanent(f"the {missing} no longer exists")
    if health.is_open and not probe:
        # Parked, also when the breaker has disabled the subscription: a re-enable delivers it.
        raise DeliveryBreakerOpen(f"the endpoint's circuit breaker is {health.breaker.value}")
    if subscription.status is SubscriptionStatus.DISABLED:
        raise DeliveryPermanent("the subscription is disabled")
    if subscription.status is SubscriptionStatus.PAUSED:
        # Held, not lost: retried on schedule, then dead-lettered for a redrive after resuming.
        raise DeliveryRetryable("the subscription is paused")

    claim = store.claim_attempt(target, request.execution_arn or target.execution_name,
                                config.lease_seconds)
    if claim is Claim.DELIVERED:
        raise DeliveryAlreadyDone("the notification is already delivered")
    if claim is Claim.HELD:
        raise DeliveryHeldElsewhere("another execution is attempting this notification")
    if subscription.rate_limit and not probe:
        # Last before the POST: only target checks and signing lie between the two.
        _take_rate_token(store, config, request, subscription, accepted_at=event.created_at)

    now = utc_now()
    try:
        resolved = resolve_target(subscription.url, config.policy)
    except InvalidTarget as exc:
        _record(store, request, now, None, 0, exc.detail)
        raise DeliveryPermanent(exc.detail) from None

    body = json.dumps({"id": event.id, "type": event.type,
                       "timestamp": event.created_at.isoformat(), "data": event.data},
                      separators=(",", ":"))
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": target.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(secrets, target.webhook_id, now, body),
    }
    try:
        with observability.subsegment("webhook POST", webhook_id=target.webhook_id):
            response = http.post(resolved, body.encode(), headers,
                                          connect_timeout=config.connect_timeout,
                                          request_timeout=config.request_timeout,
                                          retry_after_cap=config.retry_after_cap)
    except http.TransportError as exc:
        _record(store, request, now, None, exc.latency_ms, str(exc))
        _endpoint_failed(store, config.breaker, request, str(exc), now)
        raise DeliveryRetryable(str(exc)) from None

    code = response.status_code
    if 200 <= code < 300:
        _record(store, request, now, code, response.latency_ms, None)
        if health.failure_streak:
            store.record_endpoint_success(target.tenant, target.subscription_id)
        observability.notification_delivered(event.created_at)
        return DeliveryResult(status_code=code, latency_ms=response.latency_ms,
                              key=store.notification_key(target))
    error = f"HTTP {code}"
    _record(store, request, now, code, response.latency_ms, error)
    if code == 410:
        store.set_subscription_status(target.tenant, target.subscription_id,
                                      SubscriptionStatus.DISABLED)
        raise DeliveryGone("the receiver answered 410 Gone: the subscription is disabled",
                           status_code=code)
    if code in RETRYABLE_STATUS:
        _endpoint_failed(store, config.breaker, request, error, now)
        retry_after = response.retry_after_seconds if code in RETRY_AFTER_STATUS else None
        raise DeliveryRetryable(error, status_code=code, retry_after=retry_after)
    raise DeliveryPermanent(f"{error} is not retried (redirects are not followed)"
                            if 300 <= code < 400 else f"{error} is not retried", status_code=code)


def _take_rate_token(store: Store, config: DeliveryConfig, request: DeliveryRequest,
                     subscription: Subscription, *, accepted_at: datetime) -> None:
    """Count this delivery in the endpoint's current second (waiting for it to begin when it
    is the next one), or raise Delivery.RateLimited with the whole seconds to wait and when,
    counted from the execution's start, the wait ends (the fast path hands a wait it cannot
    afford to the long tail). A token that came back too late in its second to be sent in
    it is given up: the delivery waits a second."""
    rate = subscription.rate_limit
    assert rate is not None
    now = utc_now()
    if now - accepted_at > config.breaker.retry_window:
        # Waits for a turn count no attempt: without this end, a backlog that never drains
        # would keep a notification waiting (and its execution's history growing) for ever.
        raise DeliveryPermanent("rate limited past the retry window: the endpoint never had a "
                                f"turn for it at {rate} deliveries/s")
    target = request.notification
    window = Window.for_token(now, config.time_scale)
    taken = store.take_delivery_token(target.tenant, target.subscription_id, window)
    wait = wait_seconds(taken, rate)
    if not wait and window.still_sendable(time.time(), config.time_scale):
        time.sleep(max(0.0, window.starts_at - time.time()))
        return
    why = f"rate limited: the endpoint takes {rate} deliveries/s, " + (
        f"{taken - rate} are waiting for them" if wait else "this one's second was nearly over")
    wait = wait or 1
    started = request.execution_started_at or now
    elapsed = max(0.0, (now - started).total_seconds()) / config.time_scale
    observability.rate_limited_wait()
    activity.waiting(target, seconds=wait, why=why)
    store.record_wait(target, RecordedWait(decided_at=now, wait_seconds=wait,
                                           reason=WaitReason.RATE_LIMITED))
    raise DeliveryRateLimited(why, wait_seconds=wait,
                              ends_after_seconds=math.ceil(elapsed) + wait)


def _endpoint_failed(store: Store, breaker: BreakerConfig, request: DeliveryRequest,
                     error: str, at: datetime) -> None:
    """Record a retryable failure against the endpoint. Only first attempts count in the
    streak, so the streak counts notifications: one notification on its schedule never opens
    the breaker, a run of failing notifications does (those that follow are parked)."""
    target = request.notification
    health = store.record_endpoint_failure(target.tenant, target.subscription_id, error, at,
                                           counts=request.attempt == 0)
    if breaker.should_open(health) and store.open_breaker(
            target.tenant, target.subscription_id,
            recovery_name(target.tenant, target.subscription_id), at):
        observability.breaker_opened()
        activity.breaker_changed(subscription_id=target.subscription_id, state="open",
                                 reason=f"{health.failure_streak} notifications failed in a "
                                        f"row; last error: {error}")


def _record(store: Store, request: DeliveryRequest, at, status_code, latency_ms,
            error) -> None:
    store.record_attempt(request.notification,
                         Attempt(at=at, status_code=status_code, latency_ms=latency_ms,
                                 error=error, execution_arn=request.execution_arn))
    observability.attempt_made(status_code, latency_ms, first=request.attempt == 0)
    activity.attempt(request.notification, number=request.attempt + 1, status_code=status_code,
                     latency_ms=latency_ms, error=error)


def record_failure(report: FailureReport, *, store: Store) -> DeadLetter:
    """Mark the notification failed, compose its dead letter and keep it, tenant-scoped, in the
    table (the API lists and redrives from there; the workflow sends it to the DLQ)."""
    store.set_notification_status(report.notification, NotificationStatus.FAILED,
                                  execution_arn=report.execution_arn)
    dead_letter = DeadLetter(
        tenant=report.notification.tenant, event_id=report.notification.event_id,
        subscription_id=report.notification.subscription_id, error=report.error,
        cause=gave_up(store.attempts_of(report.notification), readable_cause(report.cause)),
        execution_arn=report.execution_arn, failed_at=utc_now())
    store.put_dead_letter(dead_letter, report.notification.webhook_id)
    observability.notification_dead_lettered()
    activity.dead_lettered(report.notification, error=report.error, cause=dead_letter.cause)
    return dead_letter


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
        payload = json.loads(cause)
        message = payload.get("errorMessage", cause)
        return json.loads(message).get("detail", message)
    except (ValueError, AttributeError, TypeError):
        return cause
