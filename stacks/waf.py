"""A WAFv2 web ACL on the API stage: AWS managed rule groups and a per-IP rate limit."""

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.constants import WAF_RATE_LIMIT

# (rule group, priority, rules switched to COUNT and why)
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", 10, ()),
    # SizeRestrictions_BODY blocks bodies over 8 KiB; the contract accepts event data of at
    # least 64 KiB, and the API answers 413 itself above its documented limit.
    ("AWSManagedRulesCommonRuleSet", 20, ("SizeRestrictions_BODY",)),
    ("AWSManagedRulesKnownBadInputsRuleSet", 30, ()),
)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)


class Waf(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage_arn: str) -> None:
        super().__init__(scope, construct_id)
        rules = [self._managed_rule(*group) for group in MANAGED_RULE_GROUPS]
        rules.append(wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerIp", priority=40,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=WAF_RATE_LIMIT, aggregate_key_type="IP")),
            visibility_config=_visibility("RateLimitPerIp")))
        self.web_acl = wafv2.CfnWebACL(
            self, "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("StepwireApi"),
            rules=rules)
        self.association = wafv2.CfnWebACLAssociation(
            self, "StageAssociation", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn)

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
