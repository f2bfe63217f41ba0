"""API Gateway (REST, proxy integration) → the HTTP API's routes."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from workflows import wiring
from workflows.api.app import handle
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    annotate(tenant=authorizer.get("tenant"),
             event_id=(event.get("pathParameters") or {}).get("event_id"))
    # An interrupted keyed publish is retryable once this invocation's time is up.
    wiring.publish_idempotency().config.register_lambda_context(context)
    return handle(event, context)
