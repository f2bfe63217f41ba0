"""Recovery workflow, Release task: restart one second's worth of parked notifications."""

from typing import Any

from workflows import wiring
from workflows.kernel import aws
from workflows.kernel.observability import annotate, logger, traced_handler
from workflows.kernel.settings import get_settings
from workflows.recovery.handover import continue_as_new_if_due
from workflows.recovery.release import ReleaseRequest, release_parked


@logger.inject_lambda_context(correlation_id_path="endpoint.subscription_id")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ReleaseRequest.model_validate(event)
    annotate(tenant=request.endpoint.tenant, subscription_id=request.endpoint.subscription_id)
    settings, store = get_settings(), wiring.store()
    sfn = aws.client("stepfunctions")
    result = release_parked(request, store=store, sfn=sfn,
                            notification_state_machine_arn=settings.notification_state_machine_arn,
                            default_rate=settings.release_rate_per_second,
                            recoveries=wiring.recovery_liveness())
    result = continue_as_new_if_due(
        request, result, store=store,
        batches_per_execution=settings.recovery_batches_per_execution)
    return result.model_dump(mode="json")
