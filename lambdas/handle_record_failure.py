"""Notification workflow, RecordFailure task: mark it failed, compose the dead letter."""

from typing import Any

from workflows import wiring
from workflows.delivery.attempt import record_failure
from workflows.kernel.models import FailureReport
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = FailureReport.model_validate(event)
    annotate(tenant=report.notification.tenant, event_id=report.notification.event_id,
             webhook_id=report.notification.webhook_id)
    dead_letter = record_failure(report, store=wiring.store())
    logger.warning("notification failed", extra=dead_letter.model_dump(mode="json"))
    return dead_letter.model_dump(mode="json")
