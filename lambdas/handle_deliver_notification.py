"""Notification workflow, Deliver task: one signed POST; named errors drive Retry and Catch."""

from typing import Any

from workflows import services
from workflows.delivery import DeliveryConfig, deliver_notification
from workflows.models import DeliveryRequest
from workflows.observability import annotate, logger, traced_handler
from workflows.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = DeliveryRequest.model_validate(event)
    annotate(tenant=request.notification.tenant, event_id=request.notification.event_id,
             webhook_id=request.notification.webhook_id)
    result = deliver_notification(request, store=services.store(),
                                  config=DeliveryConfig.from_settings(get_settings()))
    return result.model_dump(mode="json")
