"""Ingest workflow, PersistEvent task: store the event once, plan its notifications."""

from typing import Any

from workflows import services
from workflows.ingest import Outcome, ingest_event
from workflows.observability import annotate, event_accepted, logger, traced_handler


@logger.inject_lambda_context(correlation_id_path="execution")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    published = event.get("event")
    result = ingest_event(published, event["execution"], store=services.store())
    annotate(tenant=result.tenant, event_id=result.event_id)
    if result.outcome is Outcome.ACCEPTED:
        event_accepted("eventbridge" if "detail-type" in (published or {}) else "api")
    logger.info("event ingested", extra={"event_id": result.event_id, "tenant": result.tenant,
                                         "outcome": result.outcome, "reason": result.reason,
                                         "notifications": len(result.notifications)})
    return result.model_dump(mode="json")
