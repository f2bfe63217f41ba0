"""What the use cases' errors answer: each a problem+json with its status.
"""


from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyPersistenceLayerError,
)
from botocore.exceptions import BotoCoreError, ClientError

from workflows.api.problems import (
    FieldProblem,
    problem,
    validation_problem,
)
from workflows.api.resolver import (
    app,
)
from workflows.auth.roles import Forbidden
from workflows.kernel.errors import InvalidTarget, NotFound
from workflows.kernel.observability import logger
from workflows.operations import events, subscriptions, tenants
from workflows.operations.cursor import InvalidCursor
from workflows.operations.idempotency import IdempotencyKeyInProgress, IdempotencyKeyReused


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    return validation_problem(exc)


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return problem(404, exc.detail)


@app.exception_handler(NotFoundError)
def _no_route(_: NotFoundError) -> Response:
    return problem(404, f"no route {app.current_event.http_method} {app.current_event.path}")


@app.exception_handler([InvalidCursor, events.InvalidRequest])
def _bad_request(exc: InvalidCursor) -> Response:
    return problem(400, exc.detail)


@app.exception_handler(IdempotencyKeyReused)
def _key_reused(exc: IdempotencyKeyReused) -> Response:
    return problem(422, exc.detail)


@app.exception_handler(IdempotencyKeyInProgress)
def _key_in_progress(exc: IdempotencyKeyInProgress) -> Response:
    return problem(409, exc.detail)


@app.exception_handler(events.PayloadTooLarge)
def _too_large(exc: events.PayloadTooLarge) -> Response:
    return problem(413, exc.detail)


@app.exception_handler([InvalidTarget, subscriptions.InvalidSubscription])
def _invalid_target(exc: InvalidTarget) -> Response:
    # Named like every other 422: the field is the subscription's url.
    return problem(422, f"url: {exc.detail}",
                   errors=[FieldProblem(field="url", message=exc.detail)])


@app.exception_handler(Forbidden)
def _forbidden(exc: Forbidden) -> Response:
    return problem(403, exc.detail)


@app.exception_handler(tenants.TenantConflict)
def _tenant_conflict(exc: tenants.TenantConflict) -> Response:
    return problem(409, exc.detail)


@app.exception_handler(tenants.InvalidTenantRequest)
def _invalid_tenant(exc: tenants.InvalidTenantRequest) -> Response:
    return problem(422, exc.detail, errors=[FieldProblem(field="limits.tier",
                                                         message=exc.detail)])


@app.exception_handler(tenants.LimitsNotApplied)
def _limits_not_applied(exc: tenants.LimitsNotApplied) -> Response:
    return problem(503, f"{exc.detail}; nothing was changed: send the same request again",
                   headers={"Retry-After": "1"})


@app.exception_handler([ClientError, BotoCoreError, IdempotencyPersistenceLayerError])
def _aws_unavailable(exc: Exception) -> Response:
    """AWS kept failing a call the request needs (after the SDK's retries; Powertools
    Idempotency wraps its table's errors): nothing was accepted, and the same request again in
    a moment is the remedy."""
    code = exc.response.get("Error", {}).get("Code", "") \
        if isinstance(exc, ClientError) else type(exc).__name__
    logger.warning("an AWS call failed after its retries", extra={"aws_error": code})
    return problem(503, "a storage or workflow service is busy; nothing was changed: "
                        "send the same request again in a moment", headers={"Retry-After": "1"})


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return problem(500, "internal error; the request id is in the logs")
