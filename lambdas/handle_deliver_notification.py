"""Notification workflow, Deliver task: one signed POST; named errors drive Retry and Catch."""

from typing import Any

from workflows import services
from workflows.delivery import DeliveryConfig, deliver_notification
from workflows.models import DeliveryRequest
from workflows.observability import logger
from workflows.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = DeliveryRequest.model_validate(event)
    result = deliver_notification(request, store=services.store(),
                                  config=DeliveryConfig.from_settings(get_settings()))
    return result.model_dump(mode="json")
