"""Per-tenant API limits: one API Gateway API key per provisioned tenant, in a usage plan.

The authorizer returns the tenant's key as `usageIdentifierKey` (workflows/auth/usage_keys.py
derives it; this construct creates it with the same value), so every request is throttled in
its tenant's bucket. Tenants come from the context value `stepwire:tenants`: a name for the
default limits, or `{"tenant", "rate", "burst", "monthly_quota"}` to give one tenant more
(`monthly_quota` 0: none; a null would not survive the CDK context).
Tenants with the same limits share one usage plan (each key still has its own bucket in it).
"""

import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from stacks.constants import (
    CONTEXT_STAGE_THROTTLE_CEILING,
    PUBLIC_ROUTES_THROTTLE,
    STAGE_THROTTLE_CEILING,
    STAGE_THROTTLE_FLOOR,
    TENANT_BURST_LIMIT,
    TENANT_MONTHLY_QUOTA,
    TENANT_RATE_LIMIT,
)
from workflows.auth.usage_keys import tenant_usage_key
from workflows.kernel.models import TENANT_PATTERN


@dataclass(frozen=True)
class TenantLimit:
    tenant: str
    rate: int = TENANT_RATE_LIMIT  # requests per second (the bucket's refill)
    burst: int = TENANT_BURST_LIMIT  # the bucket's size
    monthly_quota: int = TENANT_MONTHLY_QUOTA  # requests per month; 0: no quota

    @classmethod
    def of(cls, entry: Any) -> "TenantLimit":
        """`"acme"` or `{"tenant": "acme", "rate": 100, "burst": 200, "monthly_quota": 0}`."""
        if isinstance(entry, str):
            entry = {"tenant": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"stepwire:tenants: {entry!r} is neither a tenant nor an object")
        unknown = sorted(set(entry) - {"tenant", "rate", "burst", "monthly_quota"})
        if unknown:
            raise ValueError(f"stepwire:tenants: unknown {', '.join(unknown)} in {entry!r}")
        tenant = entry.get("tenant")
        if not isinstance(tenant, str) or not re.fullmatch(TENANT_PATTERN, tenant):
            raise ValueError(f"stepwire:tenants: {tenant!r} is not a tenant name")
        limit = cls(**entry)
        for name, least in (("rate", 1), ("burst", 1), ("monthly_quota", 0)):
            value = getattr(limit, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"stepwire:tenants: {tenant}'s {name} must be an integer "
                                 f"≥ {least}")
        if limit.burst < limit.rate:
            raise ValueError(f"stepwire:tenants: {tenant}'s burst must be at least its rate")
        return limit

    @property
    def plan(self) -> tuple[int, int, int]:
        return (self.rate, self.burst, self.monthly_quota)


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


def stage_throttle(tenants: tuple[TenantLimit, ...], ceiling: Throttle) -> tuple[Throttle, bool]:
    """The stage's throttle: every tenant's plan at once, plus the public routes' share, at
    least the floor (which holds with few or no tenants listed) and at most `ceiling`; and
    whether the ceiling cut it (then tenants at full rate throttle each other)."""
    wanted = Throttle(PUBLIC_ROUTES_THROTTLE[0] + sum(t.rate for t in tenants),
                      PUBLIC_ROUTES_THROTTLE[1] + sum(t.burst for t in tenants))
    floor = Throttle(*STAGE_THROTTLE_FLOOR)
    throttle = Throttle(min(max(wanted.rate, floor.rate), ceiling.rate),
                        min(max(wanted.burst, floor.burst), ceiling.burst))
    return throttle, wanted.rate > ceiling.rate or wanted.burst > ceiling.burst


def largest_plan_per_window(tenants: tuple[TenantLimit, ...], window_seconds: int) -> int:
    """The most requests one tenant's plan lets through in `window_seconds`: a full bucket,
    then its rate (the default plan when no tenant has more)."""
    return max(t.rate * window_seconds + t.burst
               for t in (TenantLimit(tenant="default"), *tenants))


def tenant_limits(entries: list[Any]) -> tuple[TenantLimit, ...]:
    limits = tuple(TenantLimit.of(entry) for entry in entries)
    names = [limit.tenant for limit in limits]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"stepwire:tenants: listed more than once: {', '.join(repeated)}")
    return limits


class TenantApiLimits(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, api: apigw.RestApi,
                 namespace: str, tenants: tuple[TenantLimit, ...]) -> None:
        super().__init__(scope, construct_id)
        self._api = api
        self.plans: dict[tuple[int, int, int], apigw.UsagePlan] = {}
        # The default plan exists even with no tenant listed: its limits are the documented ones.
        self.default_plan = self._plan(TenantLimit(tenant="default").plan)
        self.keys = {limit.tenant: self._key(limit, namespace) for limit in tenants}

    def _plan(self, limits: tuple[int, int, int]) -> apigw.UsagePlan:
        if limits not in self.plans:
            rate, burst, quota = limits
            # Named after its limits: reordering the tenants replaces nothing.
            suffix = "" if not self.plans else f"-{rate}-{burst}-{quota or 'unlimited'}"
            plan = self._api.add_usage_plan(
                f"TenantPlan{suffix}", name=f"{self._api.rest_api_name}-tenant{suffix}",
                description=f"Per-tenant limits ({rate}/s, burst {burst}): each tenant's API "
                            "key is in one plan",
                throttle=apigw.ThrottleSettings(rate_limit=rate, burst_limit=burst),
                quota=apigw.QuotaSettings(limit=quota, period=apigw.Period.MONTH)
                if quota else None)
            plan.add_api_stage(stage=self._api.deployment_stage)
            self.plans[limits] = plan
        return self.plans[limits]

    def _key(self, limit: TenantLimit, namespace: str) -> apigw.ApiKey:
        key = apigw.ApiKey(
            self, f"Key-{limit.tenant}",
            api_key_name=f"{namespace}-tenant-{limit.tenant}",
            description=f"Stepwire tenant {limit.tenant}: returned by the authorizer, never "
                        "sent by clients",
            value=tenant_usage_key(namespace, limit.tenant), enabled=True)
        self._plan(limit.plan).add_api_key(key)
        return key
