"""Notification workflow, RecordFailure task: compose and keep the dead letter, mark it failed.

Returns the dead letter (the DLQ message) and its row's key, which MarkQueued stamps once the
message is on the queue."""

from typing import Any

from workflows import wiring
from workflows.delivery.failure import record_failure
from workflows.kernel.models import FailureReport
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = FailureReport.model_validate(event)
    annotate(tenant=report.notification.tenant, event_id=report.notification.event_id,
             webhook_id=report.notification.webhook_id)
    store = wiring.store()
    dead_letter = record_failure(report, store=store)
    logger.warning("notification failed", extra=dead_letter.model_dump(mode="json"))
    return {**dead_letter.model_dump(mode="json"),
            "dead_letter_key": store.dead_letter_key(dead_letter)}
