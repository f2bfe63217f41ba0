"""The stage's throttle is the ceiling (tenants are made at run time: no sum of their plans
exists at deploy), and the WAF's rate rules are sized to the tiers' plans, tighter without a
token, answered 429 with Retry-After; the common rule set's body rules that would refuse a
subscription URL holding an IP count."""

import json

import pytest
from aws_cdk.assertions import Annotations, Match

from app import build_app
from stacks.constants import (
    CONSOLE_FILES_RATE,
    PUBLIC_ROUTES_THROTTLE,
    STACK_ID,
    STAGE_THROTTLE_CEILING,
    WAF_RETRY_AFTER_SECONDS,
    WAF_UNAUTHENTICATED_PER_IP,
    WAF_WINDOW_SECONDS,
)
from stacks.tenant_limits import Throttle, largest_plan_per_window, stage_throttle
from tests.infrastructure.conftest import SYNTH_CONTEXT
from workflows.auth.usage_plans import DEFAULT_TIERS, PLATFORM_TIER, Tier

pytestmark = pytest.mark.infrastructure

NO_TOKEN = {"NotStatement": {"Statement": {"SizeConstraintStatement": {
    "FieldToMatch": {"SingleHeader": {"Name": "authorization"}}, "ComparisonOperator": "GT",
    "Size": 0, "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}}}


def rules_by_name(synthesized) -> dict[str, dict]:
    return {r["Name"]: r for r in synthesized.only("AWS::WAFv2::WebACL")["Rules"]}


def test_the_stage_throttle_is_the_ceiling_whatever_the_tenants(synthesized):
    # Given the app's context (no ceiling set): API Gateway's account quota per Region
    settings = synthesized.only("AWS::ApiGateway::Stage")["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == \
        STAGE_THROTTLE_CEILING
    # (the most tenants of the default tier it lets through at full rate at once: 500)
    assert STAGE_THROTTLE_CEILING[0] // DEFAULT_TIERS["standard"].rate == 500


@pytest.mark.parametrize(("tiers", "ceiling", "cut"), [
    (DEFAULT_TIERS, None, []),
    ({"standard": Tier(20, 40), "huge": Tier(20_000, 20_000)}, None, ["huge"]),
    (DEFAULT_TIERS, {"rate": 100, "burst": 300}, ["large"]),  # burst 400 > 300
])
def test_the_stage_throttle_names_the_tiers_it_would_cut(tiers, ceiling, cut):
    limit = Throttle.ceiling(ceiling)
    assert stage_throttle(tiers, limit) == (limit, cut)


def test_a_ceiling_is_two_whole_numbers():
    assert Throttle.ceiling({"rate": 500, "burst": 800}) == Throttle(500, 800)
    for wrong in ({"rate": 500}, {"rate": 0, "burst": 1}, {"rate": True, "burst": 2}, 500):
        with pytest.raises(ValueError, match="stepwire:stageThrottleCeiling"):
            Throttle.ceiling(wrong)


def test_a_tier_above_the_ceiling_warns_at_synthesis():
    app = build_app(context={**SYNTH_CONTEXT,
                             "stepwire:stageThrottleCeiling": {"rate": 100, "burst": 100}})
    stack = app.node.find_child(STACK_ID)
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(
        "the tiers large allow one tenant more than the whole stage"))
    assert warnings
    stage = next(r for r in app.synth().get_stack_by_name(STACK_ID).template["Resources"]
                 .values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 100


def test_one_address_may_send_what_the_largest_tier_allows(synthesized):
    rule = rules_by_name(synthesized)["RateLimitPerIp"]
    statement = rule["Statement"]["RateBasedStatement"]
    # the large tier's plan over the window: a full bucket, then 200/s
    large = DEFAULT_TIERS["large"]
    assert statement == {"Limit": large.rate * WAF_WINDOW_SECONDS + large.burst,
                         "AggregateKeyType": "IP", "EvaluationWindowSec": WAF_WINDOW_SECONDS}
    assert statement["Limit"] == 60_400


def test_the_platform_plan_counts_among_the_plans_one_address_may_use():
    # Only a tier below the operator's plan: the operator's console and backend still fit
    small = {"standard": Tier(1, 1)}
    assert largest_plan_per_window(small, WAF_WINDOW_SECONDS) == \
        PLATFORM_TIER.rate * WAF_WINDOW_SECONDS + PLATFORM_TIER.burst


def test_requests_without_a_token_are_limited_tighter_per_address_and_in_all(synthesized):
    rules = rules_by_name(synthesized)
    per_ip = rules["RateLimitWithoutTokenPerIp"]["Statement"]["RateBasedStatement"]
    assert per_ip == {"Limit": WAF_UNAUTHENTICATED_PER_IP, "AggregateKeyType": "IP",
                      "EvaluationWindowSec": WAF_WINDOW_SECONDS, "ScopeDownStatement": NO_TOKEN}
    assert per_ip["Limit"] < rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"]
    # All of them together get the public routes' budget (no usage plan holds them), but
    # the console's files, the customer portal's, have their own
    together = rules["RateLimitWithoutToken"]["Statement"]["RateBasedStatement"]
    console = rules["RateLimitConsoleFiles"]["Statement"]["RateBasedStatement"]
    assert together["Limit"] == PUBLIC_ROUTES_THROTTLE[0] * WAF_WINDOW_SECONDS
    assert console["Limit"] == CONSOLE_FILES_RATE * WAF_WINDOW_SECONDS
    for rule, console_path in ((together, False), (console, True)):
        assert rule["AggregateKeyType"] == "CONSTANT"
        no_token, path = rule["ScopeDownStatement"]["AndStatement"]["Statements"]
        assert no_token == NO_TOKEN
        match = path if console_path else path["NotStatement"]["Statement"]
        assert match["ByteMatchStatement"]["SearchString"] == "/console"
        assert match["ByteMatchStatement"]["FieldToMatch"] == {"UriPath": {}}


def test_a_rate_refusal_is_a_429_with_retry_after_and_a_problem_body(synthesized):
    acl = synthesized.only("AWS::WAFv2::WebACL")
    rules = rules_by_name(synthesized)
    rate_rules = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert len(rate_rules) == 4
    # evaluated first: a flood is counted and answered before any other rule
    assert max(r["Priority"] for r in rate_rules) < min(
        r["Priority"] for r in acl["Rules"] if r not in rate_rules)
    for rule in rate_rules:
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        assert response["ResponseHeaders"] == [{"Name": "Retry-After",
                                                "Value": str(WAF_RETRY_AFTER_SECONDS)}]
        body = acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert json.loads(body["Content"])["status"] == 429
    assert set(rules) >= {"RateLimitPerIp", "RateLimitWithoutTokenPerIp",
                          "RateLimitWithoutToken", "RateLimitConsoleFiles"}


def test_body_rules_that_refuse_a_subscription_url_holding_an_ip_only_count(synthesized):
    common = rules_by_name(synthesized)["AWSManagedRulesCommonRuleSet"]
    overrides = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    counted = {o["Name"] for o in overrides if o["ActionToUse"] == {"Count": {}}}
    # https://203.0.113.7/hook (an IPv4 host in a body) and the metadata address (refused by
    # the API's SSRF guard with a 422 that says why); bodies over 8 KiB (64 KiB of data are
    # accepted)
    assert counted == {"GenericRFI_BODY", "EC2MetaDataSSRF_BODY", "SizeRestrictions_BODY"}
    assert common["OverrideAction"] == {"None": {}}  # every other rule still blocks
