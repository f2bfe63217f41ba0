"""Dead-letter queues: failed notifications, and the ingress's: events the EventBridge ingress
refused (with the reason), the bus could not put on the ingress queue, or its consumer could
not take (stacks/ingress.py)."""

from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constants import DLQ_RETENTION


def _dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    # SQS-managed encryption: EventBridge and Step Functions can send to it without a KMS grant.
    return sqs.Queue(scope, construct_id, encryption=sqs.QueueEncryption.SQS_MANAGED,
                     enforce_ssl=True, retention_period=DLQ_RETENTION)


class Queues(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # What the notification workflow dead-letters; the API lists and redrives it.
        self.dead_letter_queue = _dead_letter_queue(self, "DeadLetterQueue")
        # Events the bus could not put on the ingress queue (the rule target's DLQ), the
        # consumer refused (with the reason) or could not take (the queue's redrive policy);
        # kept apart so the API's dead-letter view holds notifications only.
        self.ingress_dead_letter_queue = _dead_letter_queue(self, "IngressDeadLetterQueue")

    @property
    def all(self) -> list[sqs.Queue]:
        return [self.dead_letter_queue, self.ingress_dead_letter_queue]
