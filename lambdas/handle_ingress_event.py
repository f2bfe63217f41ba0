"""EventBridge ingress: the ingress queue's consumer (SQS event source, partial batch
responses): each message's event stored and fanned out, or refused with the reason."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workflows import wiring
from workflows.ingest import eventbridge
from workflows.kernel import aws
from workflows.kernel.observability import logger, traced_handler
from workflows.kernel.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    eventbridge.receive(record.body, record.message_id, fan_out=wiring.fan_out(),
                        sqs=aws.client("sqs"),
                        refused_queue_url=settings.ingress_dead_letter_queue_url,
                        max_data_bytes=settings.max_event_data_bytes)


@logger.inject_lambda_context
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
