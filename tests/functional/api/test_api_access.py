"""Every route × role × own/other tenant: the exact status.

Roles: a tenant's admin, publisher and reader; the operator (no tenant); an admin of a
suspended tenant; no token."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.functional.api.api_harness import ApiEnv, api_env
from workflows import wiring
from workflows.delivery.target_guard import TargetPolicy
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import Event, NotificationTarget
from workflows.operations.subscriptions import NewSubscription, create_subscription

pytestmark = pytest.mark.functional

ROLES = ("admin", "publisher", "reader", "operator", "suspended", "none")
TENANT_ROLES = {"admin", "publisher", "reader"}
NEW_SUBSCRIPTION = {"url": "http://127.0.0.1:9/hook", "event_types": ["order.*"]}

# (method, path, body, success status, roles allowed); {sub}/{evt} are the tenant's ids,
# {ten} the tenant, {new} a tenant id nobody has.
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
    ("POST", "/tenants", {"id": "{new}"}, 201, {"operator"}),
    ("GET", "/tenants", None, 200, {"operator"}),
    ("GET", "/tenants/{ten}", None, 200, {"operator"}),
    ("PATCH", "/tenants/{ten}", {"limits": {"tier": "large"}}, 200, {"operator"}),
    ("POST", "/tenants/{ten}/tokens", {"roles": ["reader"]}, 201, {"operator"}),
    ("GET", "/health", None, 200, set(ROLES)),
    ("GET", "/console", None, 302, set(ROLES)),
    ("GET", "/console/{asset}", None, 200, set(ROLES)),
]


def expected(route: tuple, role: str, owner: str) -> int:
    method, path, _, success, allowed = route
    if role not in allowed:
        return 401 if role == "none" else 403
    if owner == "other":
        return 404  # another tenant's id answers exactly as an unknown one
    return success


def owners(path: str) -> tuple[str, ...]:
    """Whose ids the path names: a tenant's own and another's, or nobody's."""
    return ("own", "other") if "{sub}" in path or "{evt}" in path else ("own",)


CASES = [pytest.param(route, role, owner, expected(route, role, owner),
                      id=f"{route[0]} {route[1]} {role} {owner}")
         for route in ROUTES for role in ROLES for owner in owners(route[1])]


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def _seed(env: ApiEnv, tenant: str) -> dict[str, str]:
    """A fresh subscription and an event with one notification of it, for `tenant`; a tenant
    to manage, and one to create."""
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
    managed = new_id("ten")
    env.token(managed, ["reader"])  # registers it
    return {"sub": subscription.id, "evt": event.id, "ten": managed, "new": new_id("ten"),
            "asset": "app.js"}


def _token(env: ApiEnv, role: str) -> str | None:
    if role == "operator":
        return env.operator_token()
    if role == "suspended":
        token = env.token("initech", ["admin"])
        env.store.update_tenant("initech", {"status": "suspended"})
        wiring.tenant_gate().forget("initech")
        return token
    return None if role == "none" else env.token("acme", [role])


@pytest.mark.parametrize(("route", "role", "owner", "status"), CASES)
def test_route_role_tenant(env: ApiEnv, route, role, owner, status):
    method, path, body, _, _ = route
    ids = _seed(env, "acme" if owner == "own" else "globex")
    token = _token(env, role)
    if body is not None:
        body = json.loads(json.dumps(body).replace("{new}", ids["new"]))
    response = env.call(method, path.format(**ids), token=token, body=body)
    assert response.status == status, response.body
    if status >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
    if status == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"
    if status == 403 and role == "suspended":
        assert "tenant 'initech' is suspended" in json.loads(response.body)["detail"]
    if status == 403 and role == "operator":
        assert "the operator acts on no tenant's data" in json.loads(response.body)["detail"]


def test_the_table_covers_every_route_of_the_api():
    from workflows.api.app import ROUTES as API_ROUTES

    documented = {(r.method, r.path) for r in API_ROUTES
                  if r.path not in ("/openapi.json", "/docs")}
    assert documented == {(m, p.replace("{sub}", "{subscription_id}")
                           .replace("{evt}", "{event_id}").replace("{ten}", "{tenant_id}"))
                          for m, p, *_ in ROUTES}
