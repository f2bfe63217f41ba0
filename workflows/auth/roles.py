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


class Permission(StrEnum):
    READ = "read"
    PUBLISH = "publish"
    REPLAY = "replay"
    MANAGE_SUBSCRIPTIONS = "manage_subscriptions"
    REDRIVE = "redrive"
    REVOKE_TOKENS = "revoke_tokens"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.READ}),
    Role.PUBLISHER: frozenset({Permission.READ, Permission.PUBLISH, Permission.REPLAY}),
    Role.ADMIN: frozenset(Permission),
}


class Unauthorized(StepwireError):
    """Missing, malformed, expired or otherwise invalid token: 401."""

    error_name = "Auth.Unauthorized"


class Forbidden(StepwireError):
    """A valid token whose roles lack the permission: 403."""

    error_name = "Auth.Forbidden"


@dataclass(frozen=True)
class Principal:
    sub: str
    tenant: str
    roles: frozenset[Role]

    def can(self, permission: Permission) -> bool:
        return any(permission in ROLE_PERMISSIONS[role] for role in self.roles)

    def require(self, permission: Permission) -> "Principal":
        if not self.can(permission):
            raise Forbidden(f"the roles {', '.join(sorted(self.roles)) or '(none)'} do not "
                            f"allow '{permission}'")
        return self

    def to_context(self) -> dict[str, str]:
        """The authorizer context API Gateway hands to the API (string values only)."""
        return {"tenant": self.tenant, "roles": ",".join(sorted(self.roles)), "sub": self.sub}

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> "Principal":
        context = context or {}
        tenant, sub = context.get("tenant"), context.get("sub") or context.get("principalId")
        if not tenant or not sub:
            raise Unauthorized("the request carries no authenticated principal")
        return cls(sub=str(sub), tenant=str(tenant),
                   roles=frozenset(Role(r) for r in str(context.get("roles", "")).split(",")
                                   if r in Role.__members__.values()))
