"""A WAFv2 web ACL on the API stage: AWS managed rule groups and rate limits sized to the
tiers' plans, tighter for requests without a token; a rate refusal is a 429 with
Retry-After, as the API's own throttles answer."""

import json

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.constants import (
    CONSOLE_FILES_RATE,
    PUBLIC_ROUTES_THROTTLE,
    WAF_RETRY_AFTER_SECONDS,
    WAF_UNAUTHENTICATED_PER_IP,
    WAF_WINDOW_SECONDS,
)
from stacks.tenant_limits import largest_plan_per_window
from workflows.auth.usage_plans import Tier

# The common rule set's rules that would refuse what the API accepts: counted (their label
# and metric stay), never blocking.
COUNTED_COMMON_RULES = (
    # Bodies over 8 KiB: the contract accepts event data of at least 64 KiB, and the API
    # answers 413 itself above its documented limit.
    "SizeRestrictions_BODY",
    # A URL whose host is an IPv4 address anywhere in a body: a subscription may point at
    # one (https://203.0.113.7/hook). The API's SSRF guard refuses private and reserved
    # addresses on create and at every delivery, by the address the name resolves to.
    "GenericRFI_BODY",
    # 169.254.169.254 in a body: a subscription URL naming it is refused by the same guard
    # with a 422 that says why, instead of a 403 that does not.
    "EC2MetaDataSSRF_BODY",
)
# (rule group, priority, rules switched to COUNT)
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", 10, ()),
    ("AWSManagedRulesCommonRuleSet", 20, COUNTED_COMMON_RULES),
    ("AWSManagedRulesKnownBadInputsRuleSet", 30, ()),
)
RATE_LIMITED_BODY = "rate-limited"


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)


def _no_token() -> wafv2.CfnWebACL.StatementProperty:
    """Requests without an Authorization header (a missing header matches no size test)."""
    has_token = wafv2.CfnWebACL.StatementProperty(
        size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                single_header={"Name": "authorization"}),
            comparison_operator="GT", size=0,
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(
                priority=0, type="NONE")]))
    return wafv2.CfnWebACL.StatementProperty(
        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=has_token))


def _console_file() -> wafv2.CfnWebACL.StatementProperty:
    """A request for the console (its path, after the stage, starts with /console)."""
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="CONTAINS", search_string="/console",
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(
                priority=0, type="LOWERCASE")]))


def _all(*statements: wafv2.CfnWebACL.StatementProperty) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=list(statements)))


def _not(statement: wafv2.CfnWebACL.StatementProperty) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=statement))


class Waf(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage_arn: str,
                 tiers: dict[str, Tier]) -> None:
        super().__init__(scope, construct_id)
        # Per window, one IP address: whatever the largest tier lets a tenant send; without
        # a token, a person's share; all requests without a token together, the public
        # routes' budget (no usage plan holds them: a flood without tokens is bounded here),
        # and the console's files their own (the customer portal's users load them).
        self.limits = {
            "RateLimitPerIp": (largest_plan_per_window(tiers, WAF_WINDOW_SECONDS), "IP",
                               None),
            "RateLimitWithoutTokenPerIp": (WAF_UNAUTHENTICATED_PER_IP, "IP", _no_token()),
            "RateLimitWithoutToken": (PUBLIC_ROUTES_THROTTLE[0] * WAF_WINDOW_SECONDS,
                                      "CONSTANT", _all(_no_token(), _not(_console_file()))),
            "RateLimitConsoleFiles": (CONSOLE_FILES_RATE * WAF_WINDOW_SECONDS, "CONSTANT",
                                      _all(_no_token(), _console_file())),
        }
        # Rate rules first: a flood is counted, and answered 429, before any other rule.
        rules = [self._rate_rule(name, 1 + index, *limit)
                 for index, (name, limit) in enumerate(self.limits.items())]
        rules += [self._managed_rule(*group) for group in MANAGED_RULE_GROUPS]
        self.web_acl = wafv2.CfnWebACL(
            self, "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("StepwireApi"),
            custom_response_bodies={RATE_LIMITED_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                content_type="APPLICATION_JSON", content=json.dumps({
                    "type": "about:blank", "title": "Too Many Requests", "status": 429,
                    "detail": "too many requests from this address; retry after the "
                              "Retry-After header's seconds"}))},
            rules=rules)
        self.association = wafv2.CfnWebACLAssociation(
            self, "StageAssociation", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn)

    @staticmethod
    def _rate_rule(name: str, priority: int, limit: int, key: str,
                   scope_down: wafv2.CfnWebACL.StatementProperty | None
                   ) -> wafv2.CfnWebACL.RuleProperty:
        too_many = wafv2.CfnWebACL.CustomResponseProperty(
            response_code=429, custom_response_body_key=RATE_LIMITED_BODY,
            response_headers=[wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                name="Retry-After", value=str(WAF_RETRY_AFTER_SECONDS))])
        return wafv2.CfnWebACL.RuleProperty(
            name=name, priority=priority,
            action=wafv2.CfnWebACL.RuleActionProperty(
                block=wafv2.CfnWebACL.BlockActionProperty(custom_response=too_many)),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=limit, aggregate_key_type=key,
                    evaluation_window_sec=WAF_WINDOW_SECONDS,
                    scope_down_statement=scope_down)),
            visibility_config=_visibility(name))

    @staticmethod
    def _managed_rule(group: str, priority: int,
                      counted: tuple[str, ...]) -> wafv2.CfnWebACL.RuleProperty:
        return wafv2.CfnWebACL.RuleProperty(
            name=group, priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group,
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}))
                        for rule in counted] or None)),
            visibility_config=_visibility(group))
