"""Who is calling and what each role may do: roles, permissions, the principal the authorizer
hands to the API, and the two refusals (401, 403)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workflows.kernel.errors import StepwireError


class Role(StrEnum):
    ADMIN = "admin"
    PUBLISHER = "publisher"
    READER = "reader"
    # The platform's own role, above tenants: it manages tenants and acts on no tenant's data.
    OPERATOR = "operator"


TENANT_ROLES = frozenset({Role.ADMIN, Role.PUBLISHER, Role.READER})


class Permission(StrEnum):
    READ = "read"
    PUBLISH = "publish"
    REPLAY = "replay"
    MANAGE_SUBSCRIPTIONS = "manage_subscriptions"
    REDRIVE = "redrive"
    REVOKE_TOKENS = "revoke_tokens"
    MANAGE_TENANTS = "manage_tenants"


TENANT_PERMISSIONS = frozenset(Permission) - {Permission.MANAGE_TENANTS}


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.READ}),
    Role.PUBLISHER: frozenset({Permission.READ, Permission.PUBLISH, Permission.REPLAY}),
    Role.ADMIN: TENANT_PERMISSIONS,
    Role.OPERATOR: frozenset({Permission.MANAGE_TENANTS}),
}


class Unauthorized(StepwireError):
    """Missing, malformed, expired or otherwise invalid token: 401."""

    error_name = "Auth.Unauthorized"


class Forbidden(StepwireError):
    """A valid token whose roles lack the permission: 403."""

    error_name = "Auth.Forbidden"


@dataclass(frozen=True)
class Principal:
    """Who calls: a tenant's user (`tenant` set, tenant roles) or the operator (no tenant)."""

    sub: str
    tenant: str | None
    roles: frozenset[Role]

    @property
    def is_operator(self) -> bool:
        return Role.OPERATOR in self.roles

    def can(self, permission: Permission) -> bool:
        return any(permission in ROLE_PERMISSIONS[role] for role in self.roles)

    def require(self, permission: Permission) -> "Principal":
        if not self.can(permission):
            if self.is_operator:
                raise Forbidden("the operator acts on no tenant's data: ask for a token of the "
                                "tenant (POST /tenants/{id}/tokens)")
            raise Forbidden(f"the roles {', '.join(sorted(self.roles)) or '(none)'} do not "
                            f"allow '{permission}'")
        return self

    @property
    def tenant_id(self) -> str:
        """The tenant this principal acts for (the operator acts for none: 403)."""
        if self.tenant is None:
            raise Forbidden("this route acts on a tenant's data; the operator has no tenant")
        return self.tenant

    def to_context(self, refusal: str | None = None) -> dict[str, str]:
        """The authorizer context API Gateway hands to the API (string values only);
        `refusal`: why every request of this token is refused (403), e.g. a suspended tenant."""
        context = {"tenant": self.tenant or "", "roles": ",".join(sorted(self.roles)),
                   "sub": self.sub}
        return {**context, "refusal": refusal} if refusal else context

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> "Principal":
        context = context or {}
        tenant, sub = context.get("tenant"), context.get("sub") or context.get("principalId")
        roles = frozenset(Role(r) for r in str(context.get("roles", "")).split(",")
                          if r in Role.__members__.values())
        operator = roles == {Role.OPERATOR}
        if not sub or (not tenant and not operator) or (tenant and Role.OPERATOR in roles):
            raise Unauthorized("the request carries no authenticated principal")
        if context.get("refusal"):
            raise Forbidden(str(context["refusal"]))
        return cls(sub=str(sub), tenant=None if operator else str(tenant), roles=roles)
