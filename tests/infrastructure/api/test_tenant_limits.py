"""Per-tenant API limits: each provisioned tenant's API key, with the value the authorizer
returns, in the usage plan of its limits (the default one, or one with more)."""

import pytest
from aws_cdk.assertions import Annotations, Match

from app import build_app
from stacks.constants import (
    STACK_ID,
    TENANT_BURST_LIMIT,
    TENANT_MONTHLY_QUOTA,
    TENANT_RATE_LIMIT,
)
from stacks.tenant_limits import TenantLimit, tenant_limits
from tests.infrastructure.conftest import TENANTS
from workflows.auth.usage_keys import tenant_usage_key

pytestmark = pytest.mark.infrastructure


def _plans_by_key(synthesized) -> dict[str, dict]:
    """API key logical id → the properties of the usage plan it is in."""
    plans = synthesized.resources("AWS::ApiGateway::UsagePlan")
    return {link["Properties"]["KeyId"]["Ref"]: plans[link["Properties"]["UsagePlanId"]["Ref"]]
            ["Properties"] for link in synthesized.resources("AWS::ApiGateway::UsagePlanKey")
            .values()}


def test_each_tenant_has_the_key_the_authorizer_returns_in_its_plan(synthesized):
    keys = synthesized.resources("AWS::ApiGateway::ApiKey")
    by_value = {k["Properties"]["Value"]: logical_id for logical_id, k in keys.items()}
    assert len(keys) == len(TENANTS)
    plans = _plans_by_key(synthesized)
    acme = plans[by_value[tenant_usage_key(STACK_ID, "acme")]]
    bigco = plans[by_value[tenant_usage_key(STACK_ID, "bigco")]]
    # Given no override, the default limits; given one, that tenant's plan gives it more
    assert acme["Throttle"] == {"RateLimit": TENANT_RATE_LIMIT,
                                "BurstLimit": TENANT_BURST_LIMIT}
    assert acme["Quota"] == {"Limit": TENANT_MONTHLY_QUOTA, "Period": "MONTH"}
    assert bigco["Throttle"] == {"RateLimit": 200, "BurstLimit": 400}
    assert "Quota" not in bigco
    for plan in (acme, bigco):
        assert len(plan["ApiStages"]) == 1
    assert all(k["Properties"]["Enabled"] is True for k in keys.values())


def test_the_functions_derive_keys_in_the_stacks_namespace(synthesized):
    environments = [f["Properties"]["Environment"]["Variables"] for f in
                    synthesized.resources("AWS::Lambda::Function").values()
                    if f["Properties"].get("Handler", "").startswith("lambdas.")]
    assert {e["STEPWIRE_API_USAGE_KEY_NAMESPACE"] for e in environments} == {STACK_ID}


def test_an_unprovisioned_tenant_is_refused_as_problem_json(synthesized):
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in
                 synthesized.resources("AWS::ApiGateway::GatewayResponse").values()}
    refused = responses["INVALID_API_KEY"]
    assert refused["StatusCode"] == "403"
    assert "stepwire:tenants" in refused["ResponseTemplates"]["application/problem+json"]


@pytest.mark.parametrize(("entries", "message"), [
    ([{"tenant": "acme", "rate": 0}], "rate must be an integer ≥ 1"),
    ([{"tenant": "acme", "monthly_quota": -1}], "monthly_quota must be an integer ≥ 0"),
    ([{"tenant": "acme", "rate": 50, "burst": 10}], "burst must be at least its rate"),
    ([{"tenant": "acme", "rps": 5}], "unknown rps"),
    (["acme", {"tenant": "acme"}], "listed more than once: acme"),
    (["not a tenant"], "is not a tenant name"),
    ([42], "neither a tenant nor an object"),
])
def test_a_wrong_tenant_entry_fails_the_synthesis_with_its_reason(entries, message):
    with pytest.raises(ValueError, match=message):
        tenant_limits(entries)


def test_a_tenant_named_alone_gets_the_default_limits():
    assert TenantLimit.of("acme") == TenantLimit("acme", TENANT_RATE_LIMIT, TENANT_BURST_LIMIT,
                                                 TENANT_MONTHLY_QUOTA)


@pytest.mark.parametrize(("context", "warned"), [
    ({}, True),  # keys required (the default) and no tenant listed: every request a 403
    ({"stepwire:tenants": ["acme"]}, False),
    ({"stepwire:requireTenantApiKeys": "false"}, False),
])
def test_required_keys_without_a_listed_tenant_warn_at_synthesis(context, warned) -> None:
    app = build_app(context={"aws:cdk:bundling-stacks": [], "stepwire:tenants": [], **context})
    stack = app.node.find_child(STACK_ID)
    messages = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(
        "stepwire:tenants lists no tenant"))
    assert bool(messages) is warned
