"""Ingest workflow, FanOutPage task: one page of an accepted event's fan-out."""

from typing import Any

from workflows import wiring
from workflows.ingest.fan_out import WORKFLOW_PAGE, FanOutProgress, FanOutRequest, fan_out_page
from workflows.kernel.observability import annotate, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="event_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FanOutRequest.model_validate(event)
    annotate(tenant=request.tenant, event_id=request.event_id)
    fan_out = wiring.fan_out()
    stored = fan_out.store.get_event(request.tenant, request.event_id)
    if stored is None:  # expired, or never stored: nothing to deliver
        logger.warning("fan-out of an event that is not stored", extra=request.model_dump())
        return FanOutProgress(**request.model_dump(), done=True).model_dump(mode="json")
    progress = fan_out_page(stored, request.after, store=fan_out.store,
                            start=fan_out.starter(), page_size=WORKFLOW_PAGE,
                            restart_pending=request.restart_pending)
    return progress.model_dump(mode="json")
