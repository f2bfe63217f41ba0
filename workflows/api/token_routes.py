"""`/tokens/revocations`: a tenant revokes its own tokens.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from workflows import wiring
from workflows.api.problems import (
    problem_response,
)
from workflows.api.resolver import (
    route,
    tenant,
)
from workflows.auth.revocations import Revocation, RevocationRequest
from workflows.auth.roles import Permission


@route("POST", "/tokens/revocations", Permission.REVOKE_TOKENS, status_code=201,
       responses={400: problem_response("The body is not valid JSON")},
       summary="Revoke tokens of your tenant",
       description="`{\"jti\": …}` refuses that one token, `{\"sub\": …}` every token of that "
                   "subject issued until now (a token issued later is accepted). Applies within "
                   "the authorizer's cache time.")
def revoke_tokens(
        request: Annotated[RevocationRequest, Body()],
) -> Revocation:
    """Revoke a token of this tenant by `jti`, or every token of a subject issued until now."""
    return wiring.token_revocations().revoke(tenant(), request)
