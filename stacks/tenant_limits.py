"""Per-tenant API limits, applied at run time: one usage plan per tier and a platform plan.

The authorizer returns a key value as `usageIdentifierKey` (workflows/auth/usage_plans.py
derives it) and API Gateway throttles the request in the plan holding that key. A tenant's key
is created and moved between the tier plans by the tenant-limits function when an operator
creates the tenant or changes its tier: no CloudFormation resource per tenant, so the template
is the same for no tenant or 10,000. What is made here, at deploy:
- one plan per tier (`stepwire:tiers`, DEFAULT_TIERS unless set), named `plan_name`, which
  the function finds by name at run time (a reference would tie it to the API);
- the platform plan with two fixed keys: the operator's, and the refused key, in whose bucket
  the tokens of unregistered or suspended tenants are throttled before the API answers 403;
- the function's grants, exactly the calls of `USAGE_PLAN_CALLS`.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constants import (
    CONTEXT_STAGE_THROTTLE_CEILING,
    CONTEXT_TIERS,
    REMOVED_CONTEXT_TENANTS,
    STAGE_THROTTLE_CEILING,
)
from workflows.auth.usage_plans import (
    DEFAULT_TIERS,
    PLATFORM_TIER,
    USAGE_PLAN_CALLS,
    Tier,
    plan_name,
    platform_keys,
    platform_plan_name,
    tiers_from_json,
)

# A tier's name is part of a usage plan's name and of a construct's id.
_TIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Throttle:
    rate: int  # requests per second
    burst: int

    @classmethod
    def ceiling(cls, entry: Any) -> "Throttle":
        """stepwire:stageThrottleCeiling: `{"rate": N, "burst": M}`, or None for the default."""
        if entry is None:
            return cls(*STAGE_THROTTLE_CEILING)
        if not isinstance(entry, dict) or set(entry) != {"rate", "burst"} or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1
                for v in entry.values()):
            raise ValueError(f"{CONTEXT_STAGE_THROTTLE_CEILING}: {entry!r} is not "
                             '{"rate": N, "burst": M} with whole numbers ≥ 1')
        return cls(entry["rate"], entry["burst"])


def refuse_listed_tenants(entry: Any) -> None:
    """`stepwire:tenants` is gone: a stack that still lists tenants must not deploy without
    them (each would lose its API key, and its requests would be refused)."""
    if entry:
        raise ValueError(
            f"{REMOVED_CONTEXT_TENANTS} is no longer read: tenants are records made at run time "
            "by an operator (POST /tenants {\"id\", \"limits\": {\"tier\"}}), and their limits "
            f"are tiers ({CONTEXT_TIERS}). Remove it from the context and, after the deploy, "
            "create each tenant it listed (docs/deploy.md, \"Migrating from stepwire:tenants\")")


def tiers_of(entry: Any) -> dict[str, Tier]:
    """stepwire:tiers: `{name: {"rate", "burst", "monthly_quota"?}}` or its JSON text (from
    `-c`); unset: DEFAULT_TIERS. The same rules as the functions' STEPWIRE_TENANT_TIERS."""
    if entry is None or entry == "":
        return dict(DEFAULT_TIERS)
    try:
        tiers = tiers_from_json(entry if isinstance(entry, str) else json.dumps(entry))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{CONTEXT_TIERS}: {exc}") from None
    wrong = sorted(name for name in tiers if not _TIER_NAME.fullmatch(name))
    if wrong:
        raise ValueError(f"{CONTEXT_TIERS}: {', '.join(map(repr, wrong))}: a tier's name is "
                         "letters, digits, '-' and '_' (at most 64)")
    return tiers


def stage_throttle(tiers: dict[str, Tier], ceiling: Throttle) -> tuple[Throttle, list[str]]:
    """The stage's throttle, and the tiers whose plan it cuts. Tenants are made at run time,
    so no sum of their plans exists at deploy: the stage gets the ceiling (by default API
    Gateway's account quota, which no stage setting can exceed), and each tenant its plan."""
    cut = sorted(name for name, tier in tiers.items()
                 if tier.rate > ceiling.rate or tier.burst > ceiling.burst)
    return ceiling, cut


def largest_plan_per_window(tiers: dict[str, Tier], window_seconds: int) -> int:
    """The most requests one key's plan lets through in `window_seconds`: a full bucket, then
    its rate (the platform plan counts too: the operator's key is in it)."""
    return max(t.rate * window_seconds + t.burst for t in (PLATFORM_TIER, *tiers.values()))


PLAN_KEY_PATH = "/usageplans/*/"  # a path of USAGE_PLAN_CALLS within one plan


def usage_plan_statements(scope: Construct, tier_plans: list[apigw.UsagePlan]
                          ) -> tuple[list[iam.PolicyStatement], list[iam.PolicyStatement]]:
    """What the tenant-limits function may do: each call of USAGE_PLAN_CALLS, as API
    Gateway's IAM names it (`apigateway:<METHOD>` on `arn:…:apigateway:<region>::<path>`).
    First the collections' (listing plans and keys, creating a key); then the calls within a
    plan, on the tier plans alone (never the platform plan with the operator's key)."""
    stack = Stack.of(scope)

    def arn(path: str) -> str:
        return stack.format_arn(service="apigateway", account="", resource=path)

    calls = sorted(set(USAGE_PLAN_CALLS.values()))
    collections = [iam.PolicyStatement(actions=[f"apigateway:{method}"], resources=[arn(path)])
                   for method, path in calls if not path.startswith(PLAN_KEY_PATH)]
    within_plans = [iam.PolicyStatement(
        actions=[f"apigateway:{method}"],
        resources=[arn(path.replace("/*/", f"/{plan.usage_plan_id}/", 1)) for plan in tier_plans])
        for method, path in calls if path.startswith(PLAN_KEY_PATH)]
    return collections, within_plans


class TenantApiLimits(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, api: apigw.RestApi,
                 namespace: str, tiers: dict[str, Tier]) -> None:
        super().__init__(scope, construct_id)
        self._api = api
        self.plans = {tier: self._plan(f"Tier-{tier}", plan_name(namespace, tier), limits,
                                       f"Tier {tier}: each tenant of the tier has its own "
                                       "bucket of these limits")
                      for tier, limits in sorted(tiers.items())}
        self.platform_plan = self._plan(
            "Platform", platform_plan_name(namespace), PLATFORM_TIER,
            "The operator's key, and the refused key (unregistered or suspended tenants)")
        (operator_name, operator_value), (refused_name, refused_value) = \
            platform_keys(namespace).items()
        self.operator_key = self._platform_key(
            "OperatorKey", operator_name, operator_value,
            "Stepwire operator: returned by the authorizer for operator tokens")
        self.refused_key = self._platform_key(
            "RefusedKey", refused_name, refused_value,
            "Stepwire refused tenants: the authorizer returns it for tokens of unregistered or "
            "suspended tenants, which the API answers 403")

    def _plan(self, construct_id: str, name: str, tier: Tier,
              description: str) -> apigw.UsagePlan:
        plan = self._api.add_usage_plan(
            construct_id, name=name,
            description=f"{description} ({tier.rate}/s, burst {tier.burst})",
            throttle=apigw.ThrottleSettings(rate_limit=tier.rate, burst_limit=tier.burst),
            quota=apigw.QuotaSettings(limit=tier.monthly_quota, period=apigw.Period.MONTH)
            if tier.monthly_quota else None)
        plan.add_api_stage(stage=self._api.deployment_stage)
        return plan

    def _platform_key(self, construct_id: str, name: str, value: str,
                      description: str) -> apigw.ApiKey:
        key = apigw.ApiKey(self, construct_id, api_key_name=name, value=value, enabled=True,
                           description=f"{description}; never sent by clients")
        self.platform_plan.add_api_key(key)
        return key
