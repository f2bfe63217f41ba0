"""Ingest workflow, FanOutPage task: one page of an accepted event's fan-out."""

from typing import Any

from workflows import wiring
from workflows.ingest.fan_out import FanOutRequest
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="event_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FanOutRequest.model_validate(event)
    annotate(tenant=request.tenant, event_id=request.event_id)
    return wiring.fan_out().next_page(request).model_dump(mode="json")
