"""`/tenants`: the operator's routes. Create, list, read, suspend or resume a tenant, set its
tier, and issue a token of a tenant (the platform's backend never holds the signing key).
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from workflows import wiring
from workflows.api.problems import problem_response
from workflows.api.resolver import BAD_CURSOR, DEFAULT_LIMIT, NOT_FOUND, Cursor, Limit, route
from workflows.auth.roles import Permission
from workflows.auth.tokens import IssuedToken, issue_tenant_token
from workflows.kernel.settings import get_settings
from workflows.operations import tenants

CONFLICT = {409: problem_response("The tenant exists, or is suspended")}
INVALID = {422: problem_response("A field is invalid (an unknown tier)")}
BUSY = {503: problem_response("The tenant's API key could not be applied yet; send the same "
                              "request again")}


@route("POST", "/tenants", Permission.MANAGE_TENANTS, status_code=201,
       responses={**CONFLICT, **INVALID, **BUSY}, summary="Create a tenant",
       description="Its tokens are accepted from now on, limited by its tier's usage plan "
                   "(`limits.tier`, default `standard`). Operator only.")
def create_tenant(request: Annotated[tenants.NewTenant, Body()]) -> tenants.TenantView:
    return wiring.tenants().create(request)


@route("GET", "/tenants", Permission.MANAGE_TENANTS, responses=BAD_CURSOR,
       summary="List the tenants",
       description="A page of up to `limit` tenants in id order; pass `next_cursor` back as "
                   "`cursor` for the next page. Operator only.")
def list_tenants(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> tenants.TenantPage:
    return wiring.tenants().list(limit, cursor, codec=wiring.cursor_codec())


@route("GET", "/tenants/<tenant_id>", Permission.MANAGE_TENANTS, responses=NOT_FOUND,
       summary="One tenant", description="Its status and limits. Operator only.")
def get_tenant(tenant_id: str) -> tenants.TenantView:
    return wiring.tenants().get(tenant_id)


@route("PATCH", "/tenants/<tenant_id>", Permission.MANAGE_TENANTS,
       responses={**NOT_FOUND, **INVALID, **BUSY}, summary="Suspend, resume, or change a tier",
       description="`status: suspended` refuses the tenant's tokens (403) within the "
                   "authorizer's cache time; what it published before is still delivered. "
                   "`limits.tier` moves its API key to that tier's usage plan. Operator only.")
def update_tenant(tenant_id: str,
                  changes: Annotated[tenants.TenantChanges, Body()]) -> tenants.TenantView:
    return wiring.tenants().update(tenant_id, changes)


@route("POST", "/tenants/<tenant_id>/tokens", Permission.MANAGE_TENANTS, status_code=201,
       shows_secret=True, responses={**NOT_FOUND, **CONFLICT},
       summary="Issue a token of a tenant",
       description="A JWT for the tenant with `roles` (admin, publisher, reader), valid "
                   "`ttl_seconds` (default 3600, at most 7 days). Operator only.")
def issue_token(tenant_id: str,
                request: Annotated[tenants.TokenRequest, Body()]) -> tenants.IssuedTokenView:
    return wiring.tenants().issue_token(tenant_id, request, _issue)


def _issue(tenant: str, roles: list[str], sub: str, ttl_seconds: int) -> IssuedToken:
    settings = get_settings()
    current = wiring.jwt_keys().signing_keys()[0]
    return issue_tenant_token(current, tenant=tenant, roles=roles, sub=sub,
                              issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                              ttl_seconds=ttl_seconds)
