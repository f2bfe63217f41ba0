"""Subscription use cases."""

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

from workflows.errors import NotFound
from workflows.ids import new_id
from workflows.models import (
    SigningSecret,
    Subscription,
    SubscriptionStatus,
    is_valid_filter,
    matches,
    utc_now,
)
from workflows.signing import new_signing_secret
from workflows.store import Store
from workflows.target_guard import TargetPolicy, resolve_target

ROTATION_OVERLAP = timedelta(hours=24)


class NewSubscription(BaseModel):
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("event_types")
    @classmethod
    def _valid_filters(cls, values: list[str]) -> list[str]:
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
                                status=SubscriptionStatus.ACTIVE, created_at=now, updated_at=now)
    secret = new_signing_secret()
    store.put_subscription(subscription, [SigningSecret(value=secret)])
    return CreatedSubscription(**subscription.model_dump(), secret=secret)


def get_subscription(tenant: str, subscription_id: str, *, store: Store) -> Subscription:
    subscription = store.get_subscription(tenant, subscription_id)
    if subscription is None:
        raise NotFound(f"subscription '{subscription_id}' not found")
    return subscription


def matching_subscriptions(tenant: str, event_type: str, *, store: Store) -> list[Subscription]:
    return [s for s in store.list_subscriptions(tenant)
            if s.status is SubscriptionStatus.ACTIVE
            and any(matches(event_type, f) for f in s.event_types)]
