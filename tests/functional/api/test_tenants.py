"""`/tenants`: what the operator's calls do, through the local gateway in front of the real
authorizer and API (moto's DynamoDB and Secrets Manager)."""

import logging
from collections.abc import Iterator

import pytest

from tests.functional.api.api_harness import GENEROUS_TIERS, ApiEnv, api_env, json_of
from workflows import wiring
from workflows.auth.tokens import TokenPolicy, TokenVerifier

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


@pytest.fixture
def operator(env: ApiEnv) -> str:
    return env.operator_token()


def test_a_tenant_is_created_with_the_default_tier(env: ApiEnv, operator: str):
    created = env.call("POST", "/tenants", token=operator, body={"id": "umbrella"})

    assert created.status == 201, created.body
    body = json_of(created)
    standard = GENEROUS_TIERS["standard"]  # the harness's tiers
    assert body["id"] == "umbrella" and body["status"] == "active"
    assert body["limits"] == {"tier": "standard", "rate": standard.rate,
                              "burst": standard.burst, "monthly_quota": standard.monthly_quota}
    assert body["created_at"] == body["updated_at"]
    assert json_of(env.call("GET", "/tenants/umbrella", token=operator)) == body


def test_creating_a_tenant_twice_is_a_conflict_and_changes_nothing(env: ApiEnv, operator: str):
    first = env.call("POST", "/tenants", token=operator,
                     body={"id": "cyberdyne", "limits": {"tier": "large"}})
    again = env.call("POST", "/tenants", token=operator, body={"id": "cyberdyne"})

    assert first.status == 201
    assert again.status == 409 and "tenant 'cyberdyne' exists" in json_of(again)["detail"]
    assert json_of(env.call("GET", "/tenants/cyberdyne", token=operator))["limits"]["tier"] \
        == "large"


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "bad tenant"}, "id"),
    ({"id": "ok", "limits": {"tier": "platinum"}}, "limits.tier"),
    ({"id": "ok", "limits": {"rate": 5}}, "limits"),
    ({"id": "ok", "status": "suspended"}, "status"),
])
def test_an_invalid_tenant_is_a_422_naming_the_field(env: ApiEnv, operator: str, body, field):
    response = env.call("POST", "/tenants", token=operator, body=body)

    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in json_of(response)["errors"]), response.body
    assert env.call("GET", "/tenants/ok", token=operator).status == 404


def test_the_list_pages_through_every_tenant_once(env: ApiEnv, operator: str):
    for n in range(7):
        env.call("POST", "/tenants", token=operator, body={"id": f"paged-{n}"})
    env.store.register_tenant("only-a-registry-row")  # a subscription's row: not a tenant

    seen, cursor = [], None
    while True:
        page = json_of(env.call("GET", f"/tenants?limit=3{f'&cursor={cursor}' if cursor else ''}",
                                token=operator))
        seen += [t["id"] for t in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert [t for t in seen if t.startswith("paged-")] == [f"paged-{n}" for n in range(7)]
    assert len(seen) == len(set(seen)) and "only-a-registry-row" not in seen
    tampered = env.call("GET", "/tenants?cursor=abc", token=operator)
    assert tampered.status == 400


def test_an_issued_token_acts_for_the_tenant_and_nothing_more(env: ApiEnv, operator: str):
    env.call("POST", "/tenants", token=operator, body={"id": "soylent"})

    issued = env.call("POST", "/tenants/soylent/tokens", token=operator,
                      body={"roles": ["publisher"], "ttl_seconds": 600})

    assert issued.status == 201 and issued.headers.get("Cache-Control") == "no-store"
    token = json_of(issued)["token"]
    principal = TokenVerifier(wiring.jwt_keys(), TokenPolicy("stepwire", "stepwire-api")
                              ).verify(token)
    assert (principal.tenant, principal.sub, set(principal.roles)) == (
        "soylent", "soylent:api", {"publisher"})
    assert env.call("POST", "/events", token=token,
                    body={"type": "t.x", "data": {}}).status == 202
    assert env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/x", "event_types": ["*"]}).status == 403
    operator_role = env.call("POST", "/tenants/soylent/tokens", token=operator,
                             body={"roles": ["operator"]})
    assert operator_role.status == 422


def test_a_suspended_tenant_is_refused_until_resumed(env: ApiEnv, operator: str):
    env.call("POST", "/tenants", token=operator, body={"id": "wonka"})
    token = json_of(env.call("POST", "/tenants/wonka/tokens", token=operator,
                             body={"roles": ["admin"]}))["token"]

    suspended = env.call("PATCH", "/tenants/wonka", token=operator,
                         body={"status": "suspended"})
    refused = env.call("GET", "/events", token=token)
    no_token = env.call("POST", "/tenants/wonka/tokens", token=operator,
                        body={"roles": ["admin"]})
    resumed = env.call("PATCH", "/tenants/wonka", token=operator, body={"status": "active"})

    assert json_of(suspended)["status"] == "suspended"
    assert refused.status == 403 and "tenant 'wonka' is suspended" in json_of(refused)["detail"]
    assert no_token.status == 409 and "suspended" in json_of(no_token)["detail"]
    assert json_of(resumed)["status"] == "active"
    assert env.call("GET", "/events", token=token).status == 200


def test_an_unregistered_tenants_token_is_refused_by_name(env: ApiEnv):
    response = env.call("GET", "/subscriptions",
                        token=env.token("vandelay", ["admin"], register=False))

    assert response.status == 403
    assert "tenant 'vandelay' is not registered" in json_of(response)["detail"]


def test_unknown_tenants_are_404_and_nothing_is_made(env: ApiEnv, operator: str):
    for method, path, body in (("GET", "/tenants/nobody", None),
                               ("PATCH", "/tenants/nobody", {"limits": {"tier": "large"}}),
                               ("POST", "/tenants/nobody/tokens", {"roles": ["reader"]})):
        response = env.call(method, path, token=operator, body=body)
        assert response.status == 404, (method, response.body)
    assert env.store.get_tenant("nobody") is None


def test_the_operators_calls_are_audit_logged(env: ApiEnv, operator: str,
                                              caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO):
        env.call("POST", "/tenants", token=operator, body={"id": "audited"})
        env.call("PATCH", "/tenants/audited", token=operator, body={"status": "suspended"})
        env.call("GET", "/tenants", token=operator)
    audits = [r.audit for r in caplog.records if r.getMessage() == "audit"]

    assert [(a["action"], a["status"], a["operator"], a["tenant"]) for a in audits] == [
        ("POST /tenants", 201, True, None), ("PATCH /tenants/audited", 200, True, None)]
    assert audits[1]["target"] == {"tenant_id": "audited"}
    assert {a["principal"] for a in audits} == {"operator@platform"}


def test_the_local_pages_refuse_an_unregistered_or_suspended_tenant(env: ApiEnv,
                                                                    operator: str):
    # The local-only pages (/local/metrics, /local/executions) ask the gateway who calls
    env.call("POST", "/tenants", token=operator, body={"id": "pages"})
    served = env.token("pages", ["admin"])
    unregistered = env.token("ghost", ["admin"], register=False)

    assert env.gateway.principal_of(f"Bearer {served}")["tenant"] == "pages"
    assert env.gateway.principal_of(f"Bearer {unregistered}") is None
    env.call("PATCH", "/tenants/pages", token=operator, body={"status": "suspended"})
    assert env.gateway.principal_of(f"Bearer {served}") is None


def test_a_page_is_filled_past_registry_rows(env: ApiEnv, operator: str):
    # Given registry rows (subscriptions' tenants) sorted before two tenant records
    for n in range(6):
        env.store.register_tenant(f"aaa-registry-{n}")
    for name in ("aab-first", "aab-second"):
        env.call("POST", "/tenants", token=operator, body={"id": name})

    page = json_of(env.call("GET", "/tenants?limit=2", token=operator))

    assert [t["id"] for t in page["items"]] == ["aab-first", "aab-second"]
