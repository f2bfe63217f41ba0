"""Subscription use cases."""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator

from workflows.delivery.breaker import HealthView
from workflows.delivery.rate_limit import MAX_RATE_LIMIT
from workflows.delivery.signing import new_signing_secret
from workflows.delivery.target_guard import TargetPolicy, resolve_target
from workflows.kernel.errors import NotFound, StepwireError
from workflows.kernel.ids import new_id
from workflows.kernel.models import (
    EVENT_TYPE_FILTER_PATTERN,
    SigningSecret,
    Subscription,
    SubscriptionStatus,
    is_valid_filter,
    utc_now,
)
from workflows.operations.cursor import CursorCodec
from workflows.recovery.handover import RecoveryExecutions, release_now
from workflows.storage import Store

ROTATION_OVERLAP = timedelta(hours=24)


class InvalidSubscription(StepwireError):
    error_name = "Subscription.Invalid"


EventTypeFilter = Annotated[str, Field(pattern=EVENT_TYPE_FILTER_PATTERN, max_length=128,
                                       examples=["order.created", "order.*", "*"])]
URL_PATTERN = r"^https?://"
RateLimit = Annotated[StrictInt | None, Field(
    ge=1, le=MAX_RATE_LIMIT, examples=[5],
    description="Deliveries per second to this endpoint, at most; null (the default) for no "
                "limit. Deliveries above it wait their turn: they are not failed attempts.")]


class NewSubscription(BaseModel):
    url: str = Field(max_length=2048, pattern=URL_PATTERN,
                     description="Must resolve to an allowed (public) address")
    event_types: list[EventTypeFilter] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    rate_limit: RateLimit = None

    @field_validator("event_types")
    @classmethod
    def _valid_filters(cls, values: list[str]) -> list[str]:
        return _checked_filters(values)


def _checked_filters(values: list[str]) -> list[str]:
    bad = [v for v in values if not is_valid_filter(v)]
    if bad:
        raise ValueError(f"not an event type filter: {', '.join(bad)} "
                         "(use 'order.created', 'order.*' or '*')")
    return values


class CreatedSubscription(Subscription):
    secret: str


def create_subscription(tenant: str, request: NewSubscription, *, store: Store,
                        policy: TargetPolicy) -> CreatedSubscription:
    """Validate the target (SSRF guard), store the subscription with a fresh signing secret."""
    resolve_target(request.url, policy)
    now = utc_now()
    subscription = Subscription(id=new_id("sub"), tenant=tenant, url=request.url,
                                event_types=request.event_types, description=request.description,
                                rate_limit=request.rate_limit, status=SubscriptionStatus.ACTIVE,
                                created_at=now, updated_at=now)
    secret = new_signing_secret()
    # The tenant registry first: a tenant with a subscription is one the reconciler walks.
    store.register_tenant(tenant)
    store.put_subscription(subscription, [SigningSecret(value=secret)])
    return CreatedSubscription(**subscription.model_dump(), secret=secret)


def get_subscription(tenant: str, subscription_id: str, *, store: Store) -> Subscription:
    subscription = store.get_subscription(tenant, subscription_id)
    if subscription is None:
        raise NotFound(f"subscription '{subscription_id}' not found")
    return subscription


# --- the HTTP API: views, pages, changes, rotation ----------------------------------------


class SubscriptionView(BaseModel):
    """A subscription as the API shows it: never a secret."""

    id: str
    url: str
    event_types: list[str]
    description: str | None
    rate_limit: int | None
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> "SubscriptionView":
        return cls.model_validate(subscription.model_dump(exclude={"tenant"}))


class SubscriptionDetail(SubscriptionView):
    """GET /subscriptions/{id}: the subscription and its endpoint's health."""

    health: HealthView


def subscription_detail(tenant: str, subscription_id: str, *,
                        store: Store) -> SubscriptionDetail:
    subscription = get_subscription(tenant, subscription_id, store=store)
    health = HealthView.of(store.endpoint_health(tenant, subscription_id),
                           parked=store.parked_count(tenant, subscription_id))
    return SubscriptionDetail(**SubscriptionView.of(subscription).model_dump(), health=health)


class SubscriptionWithSecret(SubscriptionView):
    secret: str


class SubscriptionPage(BaseModel):
    items: list[SubscriptionView]
    next_cursor: str | None


class SubscriptionChanges(NewSubscription):
    """PATCH: only the fields sent change."""

    # Optional but not nullable (only `description` and `rate_limit` can be cleared with
    # null): the default marks "not sent", an explicit null is refused by validation.
    url: str = Field(default=None, max_length=2048,  # type: ignore[assignment]
                     pattern=URL_PATTERN)
    event_types: list[EventTypeFilter] = Field(default=None,  # type: ignore[arg-type]
                                               min_length=1, max_length=50)
    status: SubscriptionStatus = Field(default=None)  # type: ignore[assignment]

    @field_validator("event_types")
    @classmethod
    # Replaces NewSubscription's validator of the same name (pydantic), None: not sent.
    def _valid_filters(cls, values: list[str] | None) -> list[str] | None:  # type: ignore[override]
        return None if values is None else _checked_filters(values)


class RotateSecretRequest(BaseModel):
    # A leaked secret: the one rotated out stops signing now instead of in 24 hours.
    expire_previous: StrictBool = False


class RotatedSecret(BaseModel):
    id: str
    secret: str
    previous_secret_expires_at: datetime


def list_subscriptions(tenant: str, limit: int, cursor: str | None, *, store: Store,
                       codec: CursorCodec) -> SubscriptionPage:
    position = codec.decode(cursor, tenant, {}) if cursor else None
    items, last = store.subscriptions_page(tenant, limit, position)
    return SubscriptionPage(items=[SubscriptionView.of(s) for s in items],
                            next_cursor=codec.encode(tenant, {}, last) if last else None)


def update_subscription(tenant: str, subscription_id: str, changes: SubscriptionChanges, *,
                        store: Store, policy: TargetPolicy,
                        recoveries: RecoveryExecutions) -> Subscription:
    fields = changes.model_dump(mode="json", exclude_unset=True)
    if fields.get("url"):
        resolve_target(fields["url"], policy)
    if not fields:
        return get_subscription(tenant, subscription_id, store=store)
    updated = store.update_subscription(tenant, subscription_id, fields)
    if updated is None:
        raise NotFound(f"subscription '{subscription_id}' not found")
    if fields.get("status") == SubscriptionStatus.ACTIVE.value:
        # Re-enabled: the breaker closes (and forgets why it disabled the subscription) and a
        # new recovery releases what is parked, now rather than at the old one's next probe.
        release_now(tenant, subscription_id, store=store, recoveries=recoveries)
    return updated


def delete_subscription(tenant: str, subscription_id: str, *, store: Store) -> None:
    if not store.delete_subscription(tenant, subscription_id):
        raise NotFound(f"subscription '{subscription_id}' not found")


def rotate_secret(tenant: str, subscription_id: str, *, store: Store,
                  expire_previous: bool = False) -> RotatedSecret:
    """A new current secret; the one it replaces keeps signing alongside it for
    ROTATION_OVERLAP (or not at all: `expire_previous`). Only these two ever sign: a secret
    rotated out earlier stops now, so a webhook carries at most two signatures."""
    subscription = get_subscription(tenant, subscription_id, store=store)
    now = utc_now()
    expires_at = now if expire_previous else now + ROTATION_OVERLAP
    current = [s for s in store.subscription_secrets(tenant, subscription_id)
               if s.expires_at is None][:1]
    kept = [] if expire_previous else [SigningSecret(value=s.value, expires_at=expires_at)
                                       for s in current]
    secret = new_signing_secret()
    store.put_subscription(subscription.model_copy(update={"updated_at": now}),
                           [SigningSecret(value=secret), *kept])
    return RotatedSecret(id=subscription_id, secret=secret, previous_secret_expires_at=expires_at)
