"""The reconciler, on its schedule (an EventBridge rule in AWS, a timer locally): finds what a
dead execution left behind and finishes it."""

from typing import Any

from workflows import wiring
from workflows.kernel import aws
from workflows.kernel.observability import logger, traced_handler
from workflows.recovery.reconcile import reconcile

# Stop taking new pages with this much of the function's time left: the progress is saved.
RESERVE_MILLIS = 60_000


@logger.inject_lambda_context
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = reconcile(
        store=wiring.store(), sfn=aws.client("stepfunctions"), sqs=aws.client("sqs"),
        config=wiring.reconcile_config(), ensure_recovery=wiring.live_recovery(),
        out_of_time=lambda: context.get_remaining_time_in_millis() < RESERVE_MILLIS)
    return report.model_dump(mode="json")
