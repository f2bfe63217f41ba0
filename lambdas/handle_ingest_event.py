"""Ingest workflow, PersistEvent task: store the event once, plan its notifications."""

from typing import Any

from workflows import wiring
from workflows.ingest.fan_out import Outcome, ingest_event
from workflows.kernel import activity
from workflows.kernel.observability import annotate, event_accepted, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="execution")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    published = event.get("event")
    result = ingest_event(published, event["execution"], store=wiring.store())
    annotate(tenant=result.tenant, event_id=result.event_id)
    source = "eventbridge" if isinstance(published, dict) and "detail-type" in published \
        else "api"
    if result.outcome is Outcome.ACCEPTED:
        event_accepted(source)
        # An accepted event always has its tenant, id and type.
        assert result.tenant is not None and result.event_id is not None
        assert result.type is not None
        activity.event_accepted(tenant=result.tenant, event_id=result.event_id,
                                event_type=result.type, source=source,
                                notifications=len(result.notifications))
    elif result.outcome is Outcome.REJECTED:
        received_id = published.get("id") if isinstance(published, dict) else None
        activity.event_refused(reason=result.reason or "invalid event", source=source,
                               received_id=str(received_id) if received_id else None)
    else:
        logger.info("duplicate event ignored", extra={"event_id": result.event_id})
    return result.model_dump(mode="json")
