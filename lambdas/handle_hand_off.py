"""Notification workflow, HandOff task: where a still-failing notification goes after the fast
attempts."""

from typing import Any

from workflows import wiring
from workflows.delivery.long_tail_handoff import HandOffRequest, hand_off
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = HandOffRequest.model_validate(event)
    annotate(tenant=request.notification.tenant, event_id=request.notification.event_id,
             webhook_id=request.notification.webhook_id)
    return hand_off(request, store=wiring.store()).model_dump(mode="json")
