"""The stage's throttle fits every tenant's plan at once (up to a ceiling), and the WAF's
rate rules are sized to the plans, tighter without a token, answered 429 with Retry-After;
the common rule set's body rules that would refuse a subscription URL holding an IP count."""

import json

import pytest
from aws_cdk.assertions import Annotations, Match

from app import build_app
from stacks.constants import (
    PUBLIC_ROUTES_THROTTLE,
    STACK_ID,
    STAGE_THROTTLE_CEILING,
    STAGE_THROTTLE_FLOOR,
    TENANT_RATE_LIMIT,
    WAF_RETRY_AFTER_SECONDS,
    WAF_UNAUTHENTICATED_PER_IP,
    WAF_WINDOW_SECONDS,
)
from stacks.tenant_limits import Throttle, stage_throttle, tenant_limits

pytestmark = pytest.mark.infrastructure

NO_TOKEN = {"NotStatement": {"Statement": {"SizeConstraintStatement": {
    "FieldToMatch": {"SingleHeader": {"Name": "authorization"}}, "ComparisonOperator": "GT",
    "Size": 0, "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}}}


def rules_by_name(synthesized) -> dict[str, dict]:
    return {r["Name"]: r for r in synthesized.only("AWS::WAFv2::WebACL")["Rules"]}


def test_the_stage_throttle_holds_every_tenant_plan_at_once(synthesized):
    # Given the session's tenants: acme (20/s, bursts of 40) and bigco (200/s, 400)
    settings = synthesized.only("AWS::ApiGateway::Stage")["MethodSettings"][0]
    # Then the stage lets both through at full rate, with room for the public routes
    assert settings["ThrottlingRateLimit"] == 20 + 200 + PUBLIC_ROUTES_THROTTLE[0]
    assert settings["ThrottlingBurstLimit"] == 40 + 400 + PUBLIC_ROUTES_THROTTLE[1]


@pytest.mark.parametrize(("entries", "expected", "cut"), [
    ([], STAGE_THROTTLE_FLOOR, False),  # few or no tenants: the floor
    (["acme"] * 1 + [{"tenant": f"t{n}", "rate": 300, "burst": 300} for n in range(9)],
     (2700 + 20 + PUBLIC_ROUTES_THROTTLE[0], 2700 + 40 + PUBLIC_ROUTES_THROTTLE[1]), False),
    ([{"tenant": f"t{n}", "rate": 1000, "burst": 1000} for n in range(12)],
     STAGE_THROTTLE_CEILING, True),  # more than the account allows: the ceiling, and a warning
])
def test_the_stage_throttle_is_the_plans_sum_between_floor_and_ceiling(entries, expected, cut):
    tenants = tenant_limits(entries)
    assert stage_throttle(tenants, Throttle.ceiling(None)) == (Throttle(*expected), cut)


def test_a_ceiling_is_two_whole_numbers():
    assert Throttle.ceiling({"rate": 500, "burst": 800}) == Throttle(500, 800)
    for wrong in ({"rate": 500}, {"rate": 0, "burst": 1}, {"rate": True, "burst": 2}, 500):
        with pytest.raises(ValueError, match="stepwire:stageThrottleCeiling"):
            Throttle.ceiling(wrong)


def test_plans_above_the_ceiling_warn_at_synthesis():
    app = build_app(context={"aws:cdk:bundling-stacks": [],
                             "stepwire:tenants": [{"tenant": "bigco", "rate": 200,
                                                   "burst": 400}],
                             "stepwire:stageThrottleCeiling": {"rate": 100, "burst": 100}})
    stack = app.node.find_child(STACK_ID)
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(
        "the tenants' plans add up to more than the stage's ceiling"))
    assert warnings
    stage = next(r for r in app.synth().get_stack_by_name(STACK_ID).template["Resources"]
                 .values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 100


def test_one_address_may_send_what_the_largest_plan_allows(synthesized):
    rule = rules_by_name(synthesized)["RateLimitPerIp"]
    statement = rule["Statement"]["RateBasedStatement"]
    # bigco's plan over the window: a full bucket, then 200/s
    assert statement == {"Limit": 200 * WAF_WINDOW_SECONDS + 400, "AggregateKeyType": "IP",
                         "EvaluationWindowSec": WAF_WINDOW_SECONDS}
    # (2,000 per 5 minutes, the limit before, was a third of one default tenant's 20/s)
    assert statement["Limit"] > TENANT_RATE_LIMIT * WAF_WINDOW_SECONDS


def test_requests_without_a_token_are_limited_tighter_per_address_and_in_all(synthesized):
    rules = rules_by_name(synthesized)
    per_ip = rules["RateLimitWithoutTokenPerIp"]["Statement"]["RateBasedStatement"]
    assert per_ip == {"Limit": WAF_UNAUTHENTICATED_PER_IP, "AggregateKeyType": "IP",
                      "EvaluationWindowSec": WAF_WINDOW_SECONDS, "ScopeDownStatement": NO_TOKEN}
    assert per_ip["Limit"] < rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"]
    # All of them together get the stage's share for the public routes, not the tenants'
    together = rules["RateLimitWithoutToken"]["Statement"]["RateBasedStatement"]
    assert together == {"Limit": PUBLIC_ROUTES_THROTTLE[0] * WAF_WINDOW_SECONDS,
                        "AggregateKeyType": "CONSTANT",
                        "EvaluationWindowSec": WAF_WINDOW_SECONDS,
                        "ScopeDownStatement": NO_TOKEN}


def test_a_rate_refusal_is_a_429_with_retry_after_and_a_problem_body(synthesized):
    acl = synthesized.only("AWS::WAFv2::WebACL")
    rules = rules_by_name(synthesized)
    rate_rules = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert len(rate_rules) == 3
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
                          "RateLimitWithoutToken"}


def test_body_rules_that_refuse_a_subscription_url_holding_an_ip_only_count(synthesized):
    common = rules_by_name(synthesized)["AWSManagedRulesCommonRuleSet"]
    overrides = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    counted = {o["Name"] for o in overrides if o["ActionToUse"] == {"Count": {}}}
    # https://203.0.113.7/hook (an IPv4 host in a body) and the metadata address (refused by
    # the API's SSRF guard with a 422 that says why); bodies over 8 KiB (64 KiB of data are
    # accepted)
    assert counted == {"GenericRFI_BODY", "EC2MetaDataSSRF_BODY", "SizeRestrictions_BODY"}
    assert common["OverrideAction"] == {"None": {}}  # every other rule still blocks
