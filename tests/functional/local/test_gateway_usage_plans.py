"""The local gateway throttles as API Gateway does with usage plans: the key the authorizer names
is looked up in (moto's) API Gateway, and its plan's throttle is the bucket's. A tier changed
by an operator moves the tenant's key to another plan: the gateway follows within its 2 s
lookup. Time is a fake clock here, so nothing depends on how fast the machine runs."""

from collections.abc import Iterator

import pytest

from stepwire.gateway.usage_plans import LOOKUP_SECONDS, UsagePlanLimits
from stepwire.host.api_keys import restore_tenant_keys
from tests.functional.api.api_harness import ApiEnv, api_env, api_gateway, json_of
from workflows.auth.usage_plans import (
    PLATFORM_TIER,
    Tier,
    UsagePlanKeys,
    operator_usage_key,
    plan_name,
    platform_plan_name,
    refused_usage_key,
)

pytestmark = pytest.mark.functional

# A tier whose bucket a test empties in three requests, and one it cannot.
TIERS = {"standard": Tier(rate=1, burst=2), "large": Tier(rate=1_000, burst=1_000)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env(TIERS) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway_env(env: ApiEnv, clock: FakeClock) -> ApiEnv:
    """The API behind a gateway whose buckets and plan lookups run on `clock`."""
    plans = UsagePlanLimits(env.client("apigateway"), clock=clock)
    return ApiEnv(gateway=api_gateway(usage_plans=plans, clock=clock), resources=env.resources)


def statuses(env: ApiEnv, token: str, count: int) -> list[int]:
    return [env.call("GET", "/events", token=token).status for _ in range(count)]


def test_provisioning_makes_the_tiers_plans_and_the_platform_plan_with_its_two_keys(
        env: ApiEnv):
    apigateway = env.client("apigateway")
    plans = {plan["name"]: plan for plan in apigateway.get_usage_plans()["items"]}

    assert plans[plan_name("stepwire", "standard")]["throttle"] == {"rateLimit": 1.0,
                                                                     "burstLimit": 2}
    assert plans[plan_name("stepwire", "large")]["throttle"] == {"rateLimit": 1000.0,
                                                                  "burstLimit": 1000}
    platform = plans[platform_plan_name("stepwire")]
    assert platform["throttle"] == {"rateLimit": float(PLATFORM_TIER.rate),
                                    "burstLimit": PLATFORM_TIER.burst}
    keys = {key["value"] for key in apigateway.get_usage_plan_keys(
        usagePlanId=platform["id"])["items"]}
    assert keys == {operator_usage_key("stepwire"), refused_usage_key("stepwire")}


def test_a_tenants_bucket_is_its_tiers_and_follows_a_tier_change(gateway_env: ApiEnv,
                                                                  clock: FakeClock):
    # Given a tenant in the tiny standard tier (rate 1/s, bursts of 2)
    token = gateway_env.token("initrode", ["reader"])

    # Then its third request at once is over the plan: 429 with when to come back
    assert statuses(gateway_env, token, 2) == [200, 200]
    throttled = gateway_env.call("GET", "/events", token=token)
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
    assert "allows 1 requests/s with bursts of 2" in json_of(throttled)["detail"]

    # When an operator moves it to the large tier
    moved = gateway_env.call("PATCH", "/tenants/initrode", token=gateway_env.operator_token(),
                             body={"limits": {"tier": "large"}})
    assert moved.status == 200, moved.body

    # Then the gateway still throttles with what it read less than 2 s ago...
    assert statuses(gateway_env, token, 1) == [429]
    # ...and after that with the large tier's plan: a full bucket of 1,000
    clock.now += LOOKUP_SECONDS
    assert set(statuses(gateway_env, token, 50)) == {200}


def test_each_tenant_has_its_own_bucket(gateway_env: ApiEnv):
    first, second = gateway_env.token("hooli", ["reader"]), gateway_env.token("vandelay",
                                                                            ["reader"])

    assert statuses(gateway_env, first, 3) == [200, 200, 429]
    assert statuses(gateway_env, second, 2) == [200, 200]


def test_a_tenant_whose_key_is_in_no_plan_gets_403_as_api_gateway_answers(env: ApiEnv):
    # Given a tenant record written without its limits applied (no key in any plan)
    env.store.create_tenant("globex", "active", "standard")
    token = env.token("globex", ["reader"], register=False)

    refused = env.call("GET", "/events", token=token)

    assert refused.status == 403
    assert "this tenant has no API usage key yet" in json_of(refused)["detail"]


def test_a_token_of_an_unregistered_tenant_gets_403_naming_the_tenant(env: ApiEnv):
    # Given a token minted by hand for a tenant nobody registered
    token = env.token("initech", ["admin"], register=False)

    refused = env.call("GET", "/subscriptions", token=token)

    # Then the request passes the gateway on the refused key and the API says why
    assert refused.status == 403
    assert "tenant 'initech' is not registered" in json_of(refused)["detail"]


def test_a_restart_puts_every_tenants_key_back_in_its_tiers_plan(
        env: ApiEnv, caplog: pytest.LogCaptureFixture):
    # Given tenants in two tiers, and one whose tier is no longer configured
    env.token("soylent", ["reader"])
    env.call("PATCH", "/tenants/soylent", token=env.operator_token(),
             body={"limits": {"tier": "large"}})
    env.token("tyrell", ["reader"])
    env.store.create_tenant("cyberdyne", "active", "gold")
    # and an API Gateway that kept none of their keys (the state directory holds none)
    apigateway = env.client("apigateway")
    for plan in apigateway.get_usage_plans()["items"]:
        for key in apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]:
            if key["name"].startswith("stepwire-tenant-"):
                apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])

    # When the runtime restores them from the tenant records
    restored = restore_tenant_keys(env.store, UsagePlanKeys(apigateway, "stepwire", TIERS),
                                   page_size=2)

    # Then each key is in its tier's plan again, and the tenant without a tier is named
    def plan_of(tenant: str) -> list[str]:
        [key] = [k for k in apigateway.get_api_keys(nameQuery=f"stepwire-tenant-{tenant}")[
            "items"] if k["name"] == f"stepwire-tenant-{tenant}"]
        return [p["name"] for p in apigateway.get_usage_plans(keyId=key["id"])["items"]]

    assert plan_of("soylent") == [plan_name("stepwire", "large")]
    assert plan_of("tyrell") == [plan_name("stepwire", "standard")]
    assert restored == len(env.store.tenants_page(100, None)[0]) - 1
    assert "tenant cyberdyne has no API key after the restart" in caplog.text
