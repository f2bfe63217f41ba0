"""Notification workflow, Deliver task: one signed POST; named errors drive Retry and Catch."""

from typing import Any

from workflows import wiring
from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.kernel.models import DeliveryRequest
from workflows.kernel.observability import annotate, logger, traced_handler
from workflows.kernel.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = DeliveryRequest.model_validate(event)
    annotate(tenant=request.notification.tenant, event_id=request.notification.event_id,
             webhook_id=request.notification.webhook_id)
    result = deliver_notification(request, store=wiring.store(),
                                  config=DeliveryConfig.from_settings(get_settings()))
    return result.model_dump(mode="json")
