"""The delivery use case: one signed POST of one event to one subscription, recorded.

prepare (load, check the target again) → call → record the attempt → classify the outcome.
An AWS error on the way is Stepwire.AwsFault, never a verdict on the receiver: no attempt is
counted for it and the breaker does not see it. A 2xx is recorded with the status in one write.
"""

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime

from workflows import __version__
from workflows.delivery import http, rate_limit
from workflows.delivery.breaker import BreakerConfig, recovery_name
from workflows.delivery.rate_limit import Pacing
from workflows.delivery.signing import signature_header
from workflows.delivery.target_guard import ResolutionTimedOut, TargetPolicy, resolve_target
from workflows.kernel import activity, observability
from workflows.kernel.errors import (
    AwsFault,
    DeliveryAlreadyDone,
    DeliveryBreakerOpen,
    DeliveryGone,
    DeliveryHeldElsewhere,
    DeliveryPermanent,
    DeliveryRateLimited,
    DeliveryRetryable,
    InvalidTarget,
    aws_errors_as_faults,
)
from workflows.kernel.models import (
    Attempt,
    DeliveryRequest,
    DeliveryResult,
    NotificationTarget,
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
    that row when the next attempt is due. An AWS error is raised as Stepwire.AwsFault."""
    try:
        with aws_errors_as_faults():
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
    send_at = None
    if subscription.rate_limit and not probe:
        # Last before the POST: only target checks and signing lie between the two.
        send_at = _take_rate_token(store, config, request, subscription,
                                   accepted_at=event.created_at)

    now = utc_now()
    try:
        resolved = resolve_target(subscription.url, config.policy)
    except ResolutionTimedOut as exc:  # the receiver's DNS: retried as a connect timeout is
        _record(store, request, now, None, exc.latency_ms, exc.detail)
        _endpoint_failed(store, config.breaker, request, exc.detail, now)
        raise DeliveryRetryable(exc.detail) from None
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
    if send_at is not None:  # the POST leaves at its slot: the rate holds where it is sent
        rate_limit.pause(max(0.0, send_at - time.time()))
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
        _record(store, request, now, code, response.latency_ms, None, delivered=True)
        if health.failure_streak:
            _streak_ended(store, target)
        observability.notification_delivered(event.created_at)
        return DeliveryResult(status_code=code, latency_ms=response.latency_ms)
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
                     subscription: Subscription, *, accepted_at: datetime) -> float:
    """This delivery's slot at the endpoint (workflows/delivery/rate_limit.py): when its POST
    may leave (epoch seconds, at most SEND_AHEAD away), or Delivery.RateLimited with the whole
    seconds to wait (the slot is reserved for it meanwhile) and when, counted from the
    execution's start, the wait ends (the fast path hands a wait it cannot afford to the long
    tail)."""
    rate = subscription.rate_limit
    assert rate is not None
    now = utc_now()
    if now - accepted_at > config.breaker.retry_window:
        # Waits for a turn count no attempt: without this end, a backlog that never drains
        # would keep a notification waiting (and its execution's history growing) for ever.
        raise DeliveryPermanent("rate limited past the retry window: the endpoint never had a "
                                f"turn for it at {rate} deliveries/s")
    target = request.notification
    slot = store.take_delivery_slot(target.tenant, target.subscription_id, target.webhook_id,
                                    Pacing(rate, config.time_scale), now.timestamp())
    if not slot.wait:
        return slot.at
    why = f"rate limited: the endpoint takes {rate} deliveries/s, {slot.ahead} are ahead of it"
    started = request.execution_started_at or now
    elapsed = max(0.0, (now - started).total_seconds()) / config.time_scale
    observability.rate_limited_wait()
    activity.waiting(target, seconds=slot.wait, why=why)
    store.record_wait(target, RecordedWait(  # when its slot comes, in the workflow's seconds
        decided_at=now, wait_seconds=(slot.at - now.timestamp()) / config.time_scale,
        reason=WaitReason.RATE_LIMITED))
    raise DeliveryRateLimited(why, wait_seconds=slot.wait,
                              ends_after_seconds=math.ceil(elapsed) + slot.wait)


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


def _streak_ended(store: Store, target: NotificationTarget) -> None:
    """Delivered: the endpoint's failure streak ends. Best effort: the notification is already
    delivered, and a lost write leaves the streak for the next success to end."""
    try:
        with aws_errors_as_faults():
            store.record_endpoint_success(target.tenant, target.subscription_id)
    except AwsFault as fault:
        observability.logger.warning("failure streak not reset", extra={"fault": fault.detail})


def _record(store: Store, request: DeliveryRequest, at, status_code, latency_ms,
            error, *, delivered: bool = False) -> None:
    attempt = Attempt(at=at, status_code=status_code, latency_ms=latency_ms, error=error,
                      execution_arn=request.execution_arn)
    if delivered:  # status and attempt in one write: nothing after a 2xx can fail it
        store.mark_delivered(request.notification, attempt)
    else:
        store.record_attempt(request.notification, attempt)
    observability.attempt_made(status_code, latency_ms, first=request.attempt == 0)
    activity.attempt(request.notification, number=request.attempt + 1, status_code=status_code,
                     latency_ms=latency_ms, error=error)
