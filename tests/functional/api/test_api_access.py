"""Every route × role (admin, publisher, reader, none) × own/other tenant: the exact status."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.functional.api.api_harness import ApiEnv, api_env
from workflows.delivery.target_guard import TargetPolicy
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import Event, NotificationTarget
from workflows.operations.subscriptions import NewSubscription, create_subscription

pytestmark = pytest.mark.functional

ROLES = ("admin", "publisher", "reader", "none")
NEW_SUBSCRIPTION = {"url": "http://127.0.0.1:9/hook", "event_types": ["order.*"]}

# (method, path, body, success status, roles allowed); {sub}/{evt} are the tenant's ids.
ROUTES = [
    ("POST", "/subscriptions", NEW_SUBSCRIPTION, 201, {"admin"}),
    ("GET", "/subscriptions", None, 200, {"admin", "publisher", "reader"}),
    ("GET", "/subscriptions/{sub}", None, 200, {"admin", "publisher", "reader"}),
    ("PATCH", "/subscriptions/{sub}", {"description": "renamed"}, 200, {"admin"}),
    ("DELETE", "/subscriptions/{sub}", None, 204, {"admin"}),
    ("POST", "/subscriptions/{sub}/rotate-secret", None, 200, {"admin"}),
    ("POST", "/events", {"type": "order.created", "data": {"n": 1}}, 202,
     {"admin", "publisher"}),
    ("GET", "/events", None, 200, {"admin", "publisher", "reader"}),
    ("GET", "/events/{evt}", None, 200, {"admin", "publisher", "reader"}),
    ("POST", "/events/{evt}/replay", {}, 202, {"admin", "publisher"}),
    ("GET", "/dead-letters", None, 200, {"admin", "publisher", "reader"}),
    ("POST", "/dead-letters/redrive", {}, 202, {"admin"}),
    ("POST", "/tokens/revocations", {"jti": "tok_unknown"}, 201, {"admin"}),
    ("GET", "/health", None, 200, set(ROLES)),
]


def expected(route: tuple, role: str, owner: str) -> int:
    method, path, _, success, allowed = route
    if role not in allowed:
        return 401 if role == "none" else 403
    if owner == "other" and "{" in path:
        return 404  # another tenant's id answers exactly as an unknown one
    return success


CASES = [pytest.param(route, role, owner, expected(route, role, owner),
                      id=f"{route[0]} {route[1]} {role} {owner}")
         for route in ROUTES for role in ROLES
         for owner in (("own", "other") if "{" in route[1] else ("own",))]


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def _seed(env: ApiEnv, tenant: str) -> dict[str, str]:
    """A fresh subscription and an event with one notification of it, for `tenant`."""
    subscription = create_subscription(tenant, NewSubscription(**NEW_SUBSCRIPTION),
                                       store=env.store, policy=TargetPolicy(allow_private=True,
                                                                            require_https=False))
    event = Event(id=new_id("evt"), tenant=tenant, type="order.created", data={"n": 1},
                  created_at=datetime.now(UTC))
    env.store.put_event_if_new(event, "arn:ingest")
    env.store.create_notifications([NotificationTarget(
        tenant=tenant, event_id=event.id, subscription_id=subscription.id,
        webhook_id=webhook_id(tenant, event.id, subscription.id),
        execution_name=execution_name(event.id, subscription.id))])
    return {"sub": subscription.id, "evt": event.id}


@pytest.mark.parametrize(("route", "role", "owner", "status"), CASES)
def test_route_role_tenant(env: ApiEnv, route, role, owner, status):
    method, path, body, _, _ = route
    ids = _seed(env, "acme" if owner == "own" else "globex")
    token = None if role == "none" else env.token("acme", [role])
    response = env.call(method, path.format(**ids), token=token, body=body)
    assert response.status == status, response.body
    if status >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
    if status == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"


def test_the_table_covers_every_route_of_the_api():
    from workflows.api.app import ROUTES as API_ROUTES

    documented = {(r.method, r.path) for r in API_ROUTES
                  if r.path not in ("/openapi.json", "/docs")}
    assert documented == {(m, p.replace("{sub}", "{subscription_id}")
                           .replace("{evt}", "{event_id}")) for m, p, *_ in ROUTES}
