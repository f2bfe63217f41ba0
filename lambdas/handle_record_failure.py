"""Notification workflow, RecordFailure task: mark it failed, compose the dead letter."""

from typing import Any

from workflows import services
from workflows.delivery import record_failure
from workflows.models import FailureReport
from workflows.observability import logger


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    dead_letter = record_failure(FailureReport.model_validate(event), store=services.store())
    logger.warning("notification failed", extra=dead_letter.model_dump(mode="json"))
    return dead_letter.model_dump(mode="json")
