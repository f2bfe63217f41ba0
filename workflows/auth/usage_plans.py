"""The API's limits per tenant, applied at run time: tiers, their usage plans, tenants' keys.

The REST API reads API keys from the authorizer (`ApiKeySourceType.AUTHORIZER`): the authorizer
returns the verified tenant's key value as `usageIdentifierKey`, and API Gateway throttles the
request in the usage plan holding that key. The value is derived from the tenant
(`tenant_usage_key`), so the authorizer needs no lookup. A client never presents a key (a
`x-api-key` header is ignored with this source), so a value grants nothing: it names a bucket.

The CDK app (and the local runtime's provisioning) makes one usage plan per tier, named
`plan_name(namespace, tier)`, and a platform plan with two fixed keys: the operator's, and the
refused key, where a token of an unregistered or suspended tenant is throttled before the API
answers it 403. A tenant's own key is created and moved between tier plans here, at run time,
by the one function allowed to (`lambdas/handle_apply_tenant_limits.py`): no CloudFormation
resource per tenant. The namespace (the stack's name) keeps two deployments in one Region
apart, since key values and plan names are per account and Region.
"""

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

# API Gateway requires at least 20 characters; the hex digest has 64, with a readable prefix.
_PREFIX = "stepwire-"
# Not tenant names (TENANT_PATTERN has no '@'): the platform plan's two keys.
_OPERATOR = "@operator"
_REFUSED = "@refused"


@dataclass(frozen=True)
class Tier:
    rate: int  # requests per second (the bucket's refill)
    burst: int  # the bucket's size
    monthly_quota: int = 0  # requests per month; 0: none

    def __post_init__(self) -> None:
        for name, least in (("rate", 1), ("burst", 1), ("monthly_quota", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"a tier's {name} must be an integer ≥ {least}, not {value!r}")
        if self.burst < self.rate:
            raise ValueError("a tier's burst must be at least its rate")


DEFAULT_TIER = "standard"
DEFAULT_TIERS: dict[str, Tier] = {
    DEFAULT_TIER: Tier(rate=20, burst=40, monthly_quota=1_000_000),
    "large": Tier(rate=200, burst=400),
}
# The operator's and the refused requests' plan: the operator's console and backend, and
# refusals that should not cost the API more than this.
PLATFORM_TIER = Tier(rate=20, burst=40)


def tiers_from_json(text: str) -> dict[str, Tier]:
    """`{"standard": {"rate": 20, "burst": 40, "monthly_quota": 0}, ...}`; one is `standard`."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, dict) for v in raw.values()):
        raise ValueError("the tiers are an object of {name: {rate, burst, monthly_quota?}}")
    tiers = {str(name): Tier(**limits) for name, limits in raw.items()}
    if DEFAULT_TIER not in tiers:
        raise ValueError(f"the tiers must include '{DEFAULT_TIER}', the default")
    return tiers


def tiers_of_setting(setting: str) -> dict[str, Tier]:
    """The tiers of the setting STEPWIRE_TENANT_TIERS: its JSON, or the defaults when empty."""
    return tiers_from_json(setting) if setting else dict(DEFAULT_TIERS)


def tiers_to_json(tiers: dict[str, Tier]) -> str:
    return json.dumps({name: asdict(tier) for name, tier in tiers.items()}, sort_keys=True)


def _derived(namespace: str, name: str) -> str:
    return _PREFIX + hmac.new(namespace.encode(), name.encode(), hashlib.sha256).hexdigest()


def tenant_usage_key(namespace: str, tenant: str) -> str:
    """The API key value of `tenant` in the deployment `namespace`."""
    return _derived(namespace, tenant)


def operator_usage_key(namespace: str) -> str:
    return _derived(namespace, _OPERATOR)


def refused_usage_key(namespace: str) -> str:
    return _derived(namespace, _REFUSED)


def plan_name(namespace: str, tier: str) -> str:
    return f"{namespace}-tier-{tier}"


def platform_plan_name(namespace: str) -> str:
    return f"{namespace}-platform"


def key_name(namespace: str, tenant: str) -> str:
    return f"{namespace}-tenant-{tenant}"


def platform_keys(namespace: str) -> dict[str, str]:
    """The platform plan's two keys: name → value."""
    return {f"{namespace}-operator": operator_usage_key(namespace),
            f"{namespace}-refused": refused_usage_key(namespace)}


# Every API Gateway call `UsagePlanKeys` makes, as IAM sees it (method, resource path): the CDK
# app grants exactly these to the function, and a test holds the calls to this list.
USAGE_PLAN_CALLS: dict[str, tuple[str, str]] = {
    "get_usage_plans": ("GET", "/usageplans"),
    "get_api_keys": ("GET", "/apikeys"),
    "create_api_key": ("POST", "/apikeys"),
    "create_usage_plan_key": ("POST", "/usageplans/*/keys"),
    "delete_usage_plan_key": ("DELETE", "/usageplans/*/keys/*"),
}


class UnknownTier(ValueError):
    pass


class UsagePlanKeys:
    """Puts a tenant's API key in its tier's usage plan (and in no other tier's)."""

    def __init__(self, client: Any, namespace: str, tiers: dict[str, Tier]) -> None:
        self._api = client  # a boto3 API Gateway client
        self._namespace = namespace
        self._tiers = tiers
        self._plan_ids: dict[str, str] = {}  # plan name → id (plans are made at deploy)

    def apply(self, tenant: str, tier: str) -> str:
        """Idempotent: the key is created once, then moved; returns the plan's name.

        A key may be in one usage plan per API stage, so it leaves its old tier's plan before
        it joins the new one: for those few milliseconds its requests get API Gateway's 403."""
        if tier not in self._tiers:
            raise UnknownTier(f"no tier '{tier}' (tiers: {', '.join(sorted(self._tiers))})")
        plans = self._tier_plans()
        target = plans.get(plan_name(self._namespace, tier))
        if target is None:
            raise LookupError(f"the usage plan {plan_name(self._namespace, tier)} does not "
                              "exist: the tiers deployed differ from the function's settings")
        key_id = self._key_id(tenant)
        holding = self._plans_holding(key_id)
        for other in holding & set(plans.values()) - {target}:
            self._api.delete_usage_plan_key(usagePlanId=other, keyId=key_id)
        if target not in holding:
            try:
                self._api.create_usage_plan_key(usagePlanId=target, keyId=key_id,
                                                keyType="API_KEY")
            except ClientError as exc:
                # A concurrent apply may have added it: success only if it is there now.
                if exc.response["Error"]["Code"] != "ConflictException" or \
                        target not in self._plans_holding(key_id):
                    raise
        return plan_name(self._namespace, tier)

    def _plans_holding(self, key_id: str) -> set[str]:
        return {plan["id"] for plan in self._api.get_usage_plans(keyId=key_id)["items"]}

    def _tier_plans(self) -> dict[str, str]:
        if not self._plan_ids:
            names = {plan_name(self._namespace, tier) for tier in self._tiers}
            request: dict[str, Any] = {"limit": 500}
            while True:
                page = self._api.get_usage_plans(**request)
                self._plan_ids.update({p["name"]: p["id"] for p in page.get("items", [])
                                       if p["name"] in names})
                if not page.get("position"):
                    break
                request["position"] = page["position"]
        return self._plan_ids

    def _key_id(self, tenant: str) -> str:
        name = key_name(self._namespace, tenant)
        found = self._find_key(name)
        if found is not None:
            return found
        try:
            return str(self._api.create_api_key(
                name=name, value=tenant_usage_key(self._namespace, tenant), enabled=True,
                description=f"Stepwire tenant {tenant}: returned by the authorizer, never sent "
                            "by clients")["id"])
        except ClientError as exc:
            found = self._find_key(name) if exc.response["Error"]["Code"] == \
                "ConflictException" else None  # created at the same moment by another call
            if found is None:
                raise
            return found

    def _find_key(self, name: str) -> str | None:
        # nameQuery matches a prefix (`acme` finds `acme2` too): every page, the exact name.
        request: dict[str, Any] = {"nameQuery": name, "limit": 500}
        while True:
            page = self._api.get_api_keys(**request)
            found = next((str(k["id"]) for k in page.get("items", []) if k.get("name") == name),
                         None)
            if found is not None or not page.get("position"):
                return found
            request["position"] = page["position"]
