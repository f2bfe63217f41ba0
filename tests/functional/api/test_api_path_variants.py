"""Every route × every role × path variants the route table does not name: refused, never run.

A trailing slash, a doubled slash, another case or an encoded separator must not reach a use
case under a weaker permission (the permission comes from the exact route, and what matches
no route is refused). Through the local gateway, in front of the real authorizer and API."""

from collections.abc import Iterator

import pytest

from tests.functional.api.api_harness import ApiEnv, api_env, json_of
from workflows.api.app import ROUTES
from workflows.auth.roles import Principal, Role

pytestmark = pytest.mark.functional

ROLES = ("admin", "publisher", "reader", "operator", "none")
IDS = {"subscription_id": "sub_x", "event_id": "evt_x", "tenant_id": "acme", "asset": "app.js"}
# API Gateway routes a path with a trailing slash to the resource without it: `/console/` is
# the console's own address, not a variant.
MEANT = {"/console/"}


def variants(path: str) -> list[str]:
    concrete = path.format(**IDS)
    first, _, rest = concrete.lstrip("/").partition("/")
    found = [concrete + "/", concrete + "//", "/" + concrete, concrete.replace("/", "//", 1),
             concrete.upper(), "/" + first.capitalize() + ("/" + rest if rest else ""),
             "/%" + format(ord(first[0]), "02X") + concrete[2:], concrete + "%2F",
             concrete.replace("/", "%2F")]
    if rest:
        found += [concrete.replace("/" + rest, "//" + rest),
                  "/" + first + "/" + rest.replace("/", "%2F"), "/" + first + "/./" + rest]
    return sorted(set(found) - {concrete} - MEANT)


def expected(method: str, path: str, role: str) -> tuple[int, ...]:
    resource = ROUTES.find(method, path[:-1] if path.endswith("/") else path)
    if resource and resource[0].public:  # the resource is public: the API refuses the path
        return (404, 405)
    if role == "none":
        return (401,)
    found = ROUTES.find(method, path)  # an encoded slash can make another id of a route
    who = Principal("u", None if role == "operator" else "acme", frozenset({Role(role)}))
    if found and not who.can(found[0].permission):
        return (403,)
    return (404, 405, 422)  # 422: a body that is not the route's, refused before any use


CASES = [pytest.param(route.method, variant, role, id=f"{route.method} {variant} {role}")
         for route in ROUTES for variant in variants(route.path) for role in ROLES]


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def test_every_route_has_its_variants():
    assert len(ROUTES) >= 15
    assert all(len(variants(route.path)) >= 7 for route in ROUTES)


@pytest.mark.parametrize(("method", "path", "role"), CASES)
def test_a_path_the_table_does_not_name_is_refused(env: ApiEnv, method, path, role):
    # Given a token of `role` (or none) and a subscription the tenant already has
    token = None if role == "none" else env.operator_token() if role == "operator" \
        else env.token("acme", [role])
    before = [s.id for s in env.store.list_subscriptions("acme")]
    # When a request uses a variant of a route's path
    response = env.call(method, path, token=token,
                        body={"url": "http://127.0.0.1:9/x", "event_types": ["*"],
                              "type": "t.x", "data": {}} if method in ("POST", "PATCH") else None)
    # Then it is refused as an unknown route (or as unauthenticated), and nothing changed
    assert response.status in expected(method, path, role), response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "detail" in json_of(response)
    assert [s.id for s in env.store.list_subscriptions("acme")] == before


def test_a_trailing_slash_is_explained(env: ApiEnv):
    response = env.call("POST", "/subscriptions/", token=env.token("acme", ["reader"]),
                        body={"url": "http://127.0.0.1:9/x", "event_types": ["*"]})
    assert response.status == 404
    assert "no trailing slash" in json_of(response)["detail"]
