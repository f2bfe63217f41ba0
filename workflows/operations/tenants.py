"""Tenant use cases: an operator creates, lists, suspends tenants, sets their tier, and asks for
a tenant's token without ever holding the signing key.

A tenant's tier is applied by the tenant-limits function (`LimitsApplier`) before the record
says so: a record never names a tier its API key is not in. A suspended tenant's tokens are
refused by the authorizer (`workflows/auth/tenant_gate.py`); what it published before is
delivered all the same.
"""

import json
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from workflows.auth.tokens import MAX_TTL_SECONDS, IssuedToken
from workflows.auth.usage_plans import DEFAULT_TIER, Tier
from workflows.kernel.errors import NotFound, StepwireError
from workflows.kernel.models import TENANT_PATTERN
from workflows.operations.cursor import CursorCodec
from workflows.storage import Store

# The cursor of GET /tenants is bound to this scope, not to a tenant.
CURSOR_SCOPE = "@tenants"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class TenantConflict(StepwireError):
    error_name = "Tenant.Conflict"


class InvalidTenantRequest(StepwireError):
    error_name = "Tenant.Invalid"


class LimitsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str = Field(min_length=1, max_length=64, examples=[DEFAULT_TIER],
                      description="The usage plan: its rate, burst and monthly quota")


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=TENANT_PATTERN, examples=["acme"],
                    description="The tenant's id: the `tenant` claim of its tokens")
    limits: LimitsRequest | None = None


class TenantChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # Optional but not nullable (the schema says so, and schema-valid input is accepted).
    status: TenantStatus = Field(default=None,  # type: ignore[assignment]
                                 description="suspended: its tokens get 403 until resumed")
    limits: LimitsRequest = None  # type: ignore[assignment]


TenantRole = Literal["admin", "publisher", "reader"]  # never the operator


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[TenantRole] = Field(min_length=1, max_length=3)
    ttl_seconds: int = Field(default=3600, ge=1, le=MAX_TTL_SECONDS)
    sub: str = Field(default=None, min_length=1, max_length=256,  # type: ignore[assignment]
                     description="The subject the tenant's audit log names (default "
                                 "`<tenant>:api`)")


class Limits(BaseModel):
    tier: str
    rate: int = Field(description="Requests per second")
    burst: int
    monthly_quota: int | None = Field(description="Requests per month; null: none")


class TenantView(BaseModel):
    id: str
    status: TenantStatus
    limits: Limits
    created_at: datetime
    updated_at: datetime


class TenantPage(BaseModel):
    items: list[TenantView]
    next_cursor: str | None


class IssuedTokenView(BaseModel):
    token: str
    expires_at: datetime


class LimitsApplier(Protocol):
    def __call__(self, tenant: str, tier: str) -> None:
        """Put the tenant's API key in the tier's usage plan (idempotent)."""


# (tenant, roles, sub, ttl) → the token
TokenIssuer = Callable[[str, list[str], str, int], IssuedToken]


class Tenants:
    def __init__(self, store: Store, tiers: dict[str, Tier], apply_limits: LimitsApplier,
                 *, on_change: Callable[[str], None] = lambda tenant: None) -> None:
        self._store = store
        self._tiers = tiers
        self._apply = apply_limits
        self._on_change = on_change  # the authorizer's cache in this process forgets it

    def create(self, request: NewTenant) -> TenantView:
        tier = self._tier(request.limits)
        if self._store.get_tenant(request.id) is not None:
            raise TenantConflict(f"tenant '{request.id}' exists")
        self._apply(request.id, tier)
        record = self._store.create_tenant(request.id, TenantStatus.ACTIVE.value, tier)
        if record is None:
            raise TenantConflict(f"tenant '{request.id}' exists")
        self._on_change(request.id)
        return self._view(record)

    def ensure(self, tenant: str) -> TenantView:
        """The tenant, created active in the default tier when it is new."""
        record = self._store.get_tenant(tenant)
        if record is not None:
            return self._view(record)
        try:
            return self.create(NewTenant(id=tenant))
        except TenantConflict:  # created meanwhile
            return self.get(tenant)

    def get(self, tenant: str) -> TenantView:
        record = self._store.get_tenant(tenant)
        if record is None:
            raise NotFound(f"tenant '{tenant}' not found")
        return self._view(record)

    def list(self, limit: int, cursor: str | None, *, codec: CursorCodec) -> TenantPage:
        position = codec.decode(cursor, CURSOR_SCOPE, {}) if cursor else None
        records, last = self._store.tenants_page(limit, position)
        return TenantPage(items=[self._view(r) for r in records],
                          next_cursor=codec.encode(CURSOR_SCOPE, {}, last) if last else None)

    def update(self, tenant: str, changes: TenantChanges) -> TenantView:
        fields: dict[str, str] = {}
        if "limits" in changes.model_fields_set and changes.limits is not None:
            fields["tier"] = self._tier(changes.limits)
            self.get(tenant)  # 404 before any key is made for an unknown tenant
            self._apply(tenant, fields["tier"])
        if "status" in changes.model_fields_set and changes.status is not None:
            fields["status"] = changes.status.value
        if not fields:
            return self.get(tenant)
        record = self._store.update_tenant(tenant, fields)
        if record is None:
            raise NotFound(f"tenant '{tenant}' not found")
        self._on_change(tenant)
        return self._view(record)

    def issue_token(self, tenant: str, request: TokenRequest,
                    issue: TokenIssuer) -> IssuedTokenView:
        view = self.get(tenant)
        if view.status is TenantStatus.SUSPENDED:
            raise TenantConflict(f"tenant '{tenant}' is suspended: resume it before issuing "
                                 "tokens")
        issued = issue(tenant, sorted(set(request.roles)),
                       request.sub or f"{tenant}:api", request.ttl_seconds)
        return IssuedTokenView(token=issued.token, expires_at=issued.expires_at)

    def _tier(self, limits: LimitsRequest | None) -> str:
        tier = limits.tier if limits is not None else DEFAULT_TIER
        if tier not in self._tiers:
            raise InvalidTenantRequest(f"limits.tier: no tier '{tier}' (the tiers are "
                                       f"{', '.join(sorted(self._tiers))})")
        return tier

    def _view(self, record: dict[str, Any]) -> TenantView:
        tier = self._tiers.get(record["tier"])
        return TenantView(
            id=record["id"], status=record["status"], created_at=record["created_at"],
            updated_at=record["updated_at"],
            limits=Limits(tier=record["tier"], rate=tier.rate if tier else 0,
                          burst=tier.burst if tier else 0,
                          monthly_quota=(tier.monthly_quota or None) if tier else None))


class LimitsNotApplied(StepwireError):
    """The tenant-limits function failed: nothing was recorded; the same request again is the
    remedy."""

    error_name = "Tenant.LimitsNotApplied"


def apply_through_function(client: Any, function_name: str) -> LimitsApplier:
    """Invoke the tenant-limits function and wait for it (none named: keys are off)."""

    def apply(tenant: str, tier: str) -> None:
        if not function_name:
            return
        answer = client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                               Payload=json.dumps({"tenant": tenant, "tier": tier}).encode())
        if answer.get("FunctionError"):
            raise LimitsNotApplied(f"tenant '{tenant}': its API key could not be put in the "
                                   f"tier '{tier}' (the tenant-limits function failed)")

    return apply
