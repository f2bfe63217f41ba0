"""API Gateway (REST, proxy integration) → the HTTP API's routes."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from workflows.api.app import handle
from workflows.observability import logger


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
