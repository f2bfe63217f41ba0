"""Notification workflow, HandOff task: where a still-failing notification goes after the fast
attempts."""

from typing import Any

from workflows import wiring
from workflows.delivery.long_tail_handoff import HandOffRequest, hand_off
from workflows.kernel.observability import annotate, logger, traced_handler
from workflows.kernel.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = HandOffRequest.model_validate(event)
    annotate(tenant=request.notification.tenant, event_id=request.notification.event_id,
             webhook_id=request.notification.webhook_id)
    settings, store = get_settings(), wiring.store()
    # Parking joins the endpoint's recovery: asked whether it runs (an ended one is replaced).
    recoveries = wiring.recovery_liveness(request.recovery_state_machine_arn)
    return hand_off(request, store=store, window_seconds=settings.retry_window_seconds,
                    recoveries=recoveries).model_dump(mode="json")
