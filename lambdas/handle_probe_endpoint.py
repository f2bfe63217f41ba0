"""Recovery workflow, Probe task: one real parked delivery to an endpoint whose breaker is open
(and the dead letters of what waited past the retry window)."""

from typing import Any

from workflows import wiring
from workflows.delivery.attempt import DeliveryConfig
from workflows.kernel import aws
from workflows.kernel.observability import annotate, logger, traced_handler
from workflows.kernel.settings import get_settings
from workflows.recovery.expiry import DeadLetterQueue
from workflows.recovery.probe import ProbeRequest, probe_endpoint


@logger.inject_lambda_context(correlation_id_path="endpoint.subscription_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ProbeRequest.model_validate(event)
    annotate(tenant=request.endpoint.tenant, subscription_id=request.endpoint.subscription_id)
    settings, store = get_settings(), wiring.store()
    result = probe_endpoint(
        request, store=store, config=DeliveryConfig.from_settings(settings),
        recoveries=wiring.recovery_liveness(),
        queue=DeadLetterQueue(aws.client("sqs"), settings.dead_letter_queue_url))
    return result.model_dump(mode="json")
