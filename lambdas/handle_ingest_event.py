"""Ingest workflow, PersistEvent task: store the event once, plan its notifications."""

from typing import Any

from workflows import services
from workflows.ingest import ingest_event
from workflows.observability import logger


@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = ingest_event(event.get("event"), event["execution"], store=services.store())
    logger.info("event ingested", extra={"event_id": result.event_id, "tenant": result.tenant,
                                         "outcome": result.outcome, "reason": result.reason,
                                         "notifications": len(result.notifications)})
    return result.model_dump(mode="json")
