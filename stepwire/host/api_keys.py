"""The emulated API Gateway's usage plans and keys, as the cloud stack has them.

One usage plan per tier (`plan_name`) and the platform plan holding the operator's key and the
refused key (`workflows/auth/usage_plans.py` names them all); tenants' keys are put in tier
plans at run time by the tenant-limits function, in the cloud and here alike. The local state
directory keeps no API Gateway state: at a restart every tenant's key is put back in its
tier's plan from the tenant records (the key values derive from the tenants' ids, so nothing
else needs keeping).
"""

import logging
import os
from typing import Any

from workflows.auth.usage_plans import (
    PLATFORM_TIER,
    Tier,
    UnknownTier,
    UsagePlanKeys,
    plan_name,
    platform_keys,
    platform_plan_name,
    tiers_of_setting,
)

log = logging.getLogger("stepwire.local")

TIERS_VARIABLE = "STEPWIRE_TENANT_TIERS"


def configured_tiers() -> dict[str, Tier]:
    """The tiers the handlers will read: STEPWIRE_TENANT_TIERS, or the defaults (as
    `workflows.wiring.tiers`, before the handlers' settings exist)."""
    return tiers_of_setting(os.environ.get(TIERS_VARIABLE, ""))


def provision_usage_plans(apigateway: Any, namespace: str, tiers: dict[str, Tier]) -> None:
    for name, tier in tiers.items():
        _plan(apigateway, plan_name(namespace, name), tier,
              f"Tier {name}: each tenant's API key in it has its own bucket")
    platform = _plan(apigateway, platform_plan_name(namespace), PLATFORM_TIER,
                     "The operator's key, and the key of requests refused with 403")
    for name, value in platform_keys(namespace).items():
        key = apigateway.create_api_key(name=name, value=value, enabled=True)
        apigateway.create_usage_plan_key(usagePlanId=platform, keyId=key["id"],
                                         keyType="API_KEY")


def _plan(apigateway: Any, name: str, tier: Tier, description: str) -> str:
    request: dict[str, Any] = {"name": name, "description": description,
                               "throttle": {"rateLimit": tier.rate, "burstLimit": tier.burst}}
    if tier.monthly_quota:
        request["quota"] = {"limit": tier.monthly_quota, "period": "MONTH"}
    return str(apigateway.create_usage_plan(**request)["id"])


def restore_tenant_keys(store: Any, keys: UsagePlanKeys, page_size: int = 100) -> int:
    """Put every tenant's key back in its tier's plan (a restart); returns how many. A tenant
    whose tier no longer exists keeps no key (its requests get 403 until an operator sets a
    tier) and is named in the log."""
    restored, position = 0, None
    while True:
        records, position = store.tenants_page(page_size, position)
        for record in records:
            try:
                keys.apply(record["id"], record["tier"])
                restored += 1
            except UnknownTier as exc:
                log.warning("tenant %s has no API key after the restart: %s", record["id"], exc)
        if position is None:
            return restored
