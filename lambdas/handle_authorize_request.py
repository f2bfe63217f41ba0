"""API Gateway Lambda authorizer (TOKEN): verify the bearer JWT, hand the principal on.

An invalid token raises `Unauthorized`, which API Gateway answers with 401; a valid one gets
an Allow policy for the whole API (the decision is cached per token, whatever the route), the
context {tenant, roles, sub} that the API reads, and an API key as `usageIdentifierKey`: API
Gateway throttles the request in that key's usage plan. A token of an unregistered or
suspended tenant is allowed with a `refusal` in its context and the refused key: the API
answers it 403 with that detail, so the caller learns why.
"""

from typing import Any

from workflows import wiring
from workflows.auth.roles import Unauthorized
from workflows.auth.tokens import bearer_token
from workflows.auth.usage_plans import operator_usage_key, refused_usage_key, tenant_usage_key
from workflows.kernel.observability import annotate, logger, traced_handler
from workflows.kernel.settings import get_settings


@logger.inject_lambda_context
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        principal = wiring.token_verifier().verify(bearer_token(event.get("authorizationToken")))
    except Unauthorized as exc:
        logger.info("token refused", extra={"reason": exc.detail})
        raise Exception("Unauthorized") from None  # API Gateway's contract
    namespace = get_settings().api_usage_key_namespace
    refusal = None
    if principal.tenant is None:
        usage_key = operator_usage_key(namespace)
    else:
        annotate(tenant=principal.tenant)
        refusal = wiring.tenant_gate().refusal(principal.tenant)
        usage_key = refused_usage_key(namespace) if refusal else \
            tenant_usage_key(namespace, principal.tenant)
    return {
        "principalId": principal.sub,
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": "Allow",
            "Resource": _whole_api(event.get("methodArn", "*"))}]},
        "context": principal.to_context(refusal),
        "usageIdentifierKey": usage_key,
    }


def _whole_api(method_arn: str) -> str:
    """arn:aws:execute-api:region:account:api/stage/METHOD/path → …:api/stage/*"""
    parts = method_arn.split("/")
    return "/".join(parts[:2]) + "/*" if len(parts) >= 2 else method_arn
