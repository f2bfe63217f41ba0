"""Notification workflow, HandOff task: where a still-failing notification goes after the fast
attempts."""

from typing import Any

from workflows import services
from workflows.handoff import HandOffRequest, hand_off
from workflows.observability import logger


@logger.inject_lambda_context(correlation_id_path="notification.webhook_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return hand_off(HandOffRequest.model_validate(event), store=services.store()).model_dump(
        mode="json")
