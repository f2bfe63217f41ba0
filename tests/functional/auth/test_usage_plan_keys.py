"""A tenant's API key is put in its tier's usage plan at run time, against API Gateway emulated
by moto with the plans the CDK app makes (named by `plan_name`, the platform plan with its two
keys). The API Gateway operations it calls are recorded: they are exactly USAGE_PLAN_CALLS, from
which the CDK app builds the tenant-limits function's grants
(tests/infrastructure/api/test_tenant_limits.py holds the template to that list)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdas import handle_apply_tenant_limits
from stepwire.host.lambda_host import LambdaContext
from workflows.auth.usage_plans import (
    DEFAULT_TIERS,
    PLATFORM_TIER,
    USAGE_PLAN_CALLS,
    UnknownTier,
    UsagePlanKeys,
    key_name,
    operator_usage_key,
    plan_name,
    platform_plan_name,
    refused_usage_key,
    tenant_usage_key,
)
from workflows.kernel import aws as aws_clients
from workflows.kernel.settings import get_settings

pytestmark = pytest.mark.functional

NAMESPACE = "Stepwire"  # the stack's name in AWS


@dataclass
class Gateway:
    client: Any
    plan_ids: dict[str, str]  # plan name → id
    operations: list[str] = field(default_factory=list)  # as called, in order

    def plans_of(self, key_id: str) -> set[str]:
        names = {plan_id: name for name, plan_id in self.plan_ids.items()}
        return {names[plan["id"]] for plan in self.client.get_usage_plans(keyId=key_id)["items"]}

    def keys_named(self, name: str) -> list[dict]:
        return [k for k in self.client.get_api_keys(nameQuery=name, includeValues=True)["items"]
                if k["name"] == name]


@pytest.fixture
def gateway(aws: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The plans the stack deploys, and every API Gateway operation called from now on."""
    monkeypatch.setenv("STEPWIRE_API_USAGE_KEY_NAMESPACE", NAMESPACE)
    aws_clients.reset_clients()
    client = aws_clients.client("apigateway")  # the client the handler's use case gets
    plan_ids = {}
    for tier_name, tier in DEFAULT_TIERS.items():
        plan_ids[plan_name(NAMESPACE, tier_name)] = client.create_usage_plan(
            name=plan_name(NAMESPACE, tier_name),
            throttle={"rateLimit": tier.rate, "burstLimit": tier.burst})["id"]
    platform = client.create_usage_plan(
        name=platform_plan_name(NAMESPACE),
        throttle={"rateLimit": PLATFORM_TIER.rate, "burstLimit": PLATFORM_TIER.burst})["id"]
    plan_ids[platform_plan_name(NAMESPACE)] = platform
    for name, value in ((f"{NAMESPACE}-operator", operator_usage_key(NAMESPACE)),
                        (f"{NAMESPACE}-refused", refused_usage_key(NAMESPACE))):
        key = client.create_api_key(name=name, value=value, enabled=True)["id"]
        client.create_usage_plan_key(usagePlanId=platform, keyId=key, keyType="API_KEY")
    found = Gateway(client, plan_ids)
    client.meta.events.register(
        "before-call.apigateway", lambda model, **_: found.operations.append(model.name))
    yield found
    aws_clients.reset_clients()
    get_settings.cache_clear()


def apply_through_handler(tenant: str, tier: str) -> dict:
    return handle_apply_tenant_limits.lambda_handler(
        {"tenant": tenant, "tier": tier}, LambdaContext(
            "stepwire-tenant-limits",
            "arn:aws:lambda:us-east-1:123456789012:function:stepwire-tenant-limits"))


def test_a_new_tenant_gets_the_key_the_authorizer_returns_in_its_tier_plan(gateway):
    # When the operator creates acme in the default tier
    answer = apply_through_handler("acme", "standard")

    # Then acme's key exists with the value the authorizer returns, in that plan alone
    assert answer == {"usage_plan": plan_name(NAMESPACE, "standard")}
    [key] = gateway.keys_named(key_name(NAMESPACE, "acme"))
    assert key["value"] == tenant_usage_key(NAMESPACE, "acme")
    assert key["enabled"] is True
    assert gateway.plans_of(key["id"]) == {plan_name(NAMESPACE, "standard")}


def test_a_tier_change_moves_the_same_key_out_of_the_old_plan(gateway):
    apply_through_handler("acme", "standard")
    [before] = gateway.keys_named(key_name(NAMESPACE, "acme"))

    apply_through_handler("acme", "large")

    [after] = gateway.keys_named(key_name(NAMESPACE, "acme"))
    assert after["id"] == before["id"]
    assert gateway.plans_of(after["id"]) == {plan_name(NAMESPACE, "large")}


def test_a_key_leaves_its_old_plan_before_it_joins_the_new_one(gateway):
    # AWS allows a key in one usage plan per API stage (moto does not check): the move must
    # never ask for two at once
    apply_through_handler("acme", "standard")
    gateway.operations.clear()

    apply_through_handler("acme", "large")

    changes = [op for op in gateway.operations if op.endswith("UsagePlanKey")]
    assert changes == ["DeleteUsagePlanKey", "CreateUsagePlanKey"]


def test_the_exact_key_is_found_past_the_first_page_of_its_prefix(gateway):
    # Given 3 keys whose names start with acme's, and a lookup that reads 2 per page
    for n in range(3):
        apply_through_handler(f"acme{n}", "standard")
    apply_through_handler("acme", "standard")
    keys = UsagePlanKeys(PagedKeys(gateway.client), NAMESPACE, dict(DEFAULT_TIERS))

    # When acme's tier is applied again, its key is found (not made twice) on a later page
    keys.apply("acme", "large")

    assert len(gateway.keys_named(key_name(NAMESPACE, "acme"))) == 1
    [key] = gateway.keys_named(key_name(NAMESPACE, "acme"))
    assert gateway.plans_of(key["id"]) == {plan_name(NAMESPACE, "large")}


class PagedKeys:
    """GetApiKeys as AWS pages it (moto answers everything at once): 2 keys a page, the exact
    name last."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_api_keys(self, nameQuery: str, limit: int, position: str = "0") -> dict:
        matching = sorted(self._client.get_api_keys(nameQuery=nameQuery, limit=limit)["items"],
                          key=lambda k: (k["name"] == nameQuery, k["name"]))
        start = int(position)
        page = {"items": matching[start:start + 2]}
        if start + 2 < len(matching):
            page["position"] = str(start + 2)
        return page


def test_applying_the_same_tier_again_creates_and_moves_nothing(gateway):
    keys = UsagePlanKeys(gateway.client, NAMESPACE, dict(DEFAULT_TIERS))
    keys.apply("acme", "large")
    gateway.operations.clear()

    keys.apply("acme", "large")

    assert not {"CreateApiKey", "CreateUsagePlanKey", "DeleteUsagePlanKey"} & set(
        gateway.operations)
    [key] = gateway.keys_named(key_name(NAMESPACE, "acme"))
    assert gateway.plans_of(key["id"]) == {plan_name(NAMESPACE, "large")}


def test_tenants_keys_stay_out_of_the_platform_plan(gateway):
    apply_through_handler("acme", "standard")
    apply_through_handler("bigco", "large")
    apply_through_handler("acme", "large")

    platform = gateway.plan_ids[platform_plan_name(NAMESPACE)]
    values = {key["value"] for key in
              gateway.client.get_usage_plan_keys(usagePlanId=platform)["items"]}
    assert values == {operator_usage_key(NAMESPACE), refused_usage_key(NAMESPACE)}


def test_a_tier_without_a_plan_is_refused_before_any_key_is_made(gateway):
    keys = UsagePlanKeys(gateway.client, NAMESPACE, dict(DEFAULT_TIERS))
    with pytest.raises(UnknownTier, match="no tier 'gold'"):
        keys.apply("acme", "gold")
    # A tier the function knows but the stack did not deploy: the settings differ
    drifted = UsagePlanKeys(gateway.client, NAMESPACE,
                            {**DEFAULT_TIERS, "gold": DEFAULT_TIERS["large"]})
    with pytest.raises(LookupError, match=f"{plan_name(NAMESPACE, 'gold')} does not exist"):
        drifted.apply("acme", "gold")
    assert not gateway.keys_named(key_name(NAMESPACE, "acme"))


def test_the_operations_called_are_exactly_usage_plan_calls(gateway):
    # Given every path: a new tenant, a move to another tier, the same tier again
    apply_through_handler("acme", "standard")
    apply_through_handler("acme", "large")
    apply_through_handler("acme", "large")

    # Then what was called is what the grants are built from, no more and no less
    operation_names = {python: gateway.client.meta.method_to_api_mapping[python]
                       for python in USAGE_PLAN_CALLS}
    assert set(gateway.operations) == set(operation_names.values())


def test_usage_plan_calls_name_each_operation_as_iam_authorizes_it(gateway):
    # API Gateway's management calls are authorized as apigateway:<HTTP method> on the
    # resource path; path parameters are IAM's wildcard
    model = gateway.client.meta.service_model
    for python, (method, path) in USAGE_PLAN_CALLS.items():
        http = model.operation_model(gateway.client.meta.method_to_api_mapping[python]).http
        assert (http["method"], re.sub(r"\{[^}]+\}", "*", http["requestUri"])) == \
            (method, path), python
