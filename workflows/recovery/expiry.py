"""Parked notifications past the retry window, dead-lettered by the probe itself in batches.

Each becomes what the delivering workflows' RecordFailure → SendToDeadLetterQueue →
MarkQueued make of a failed notification (the tenant's dead letter in the table, the row
failed, the message on the DLQ, the letter marked queued), ten to an SQS batch, and is
unparked last: a probe that dies half-way is retried and redoes at most one batch (the
table's dead letter is rewritten; the queue, at least once as SQS is, may hold a message
twice; one never marked queued is sent again by the reconciler). Done inside the Probe task,
a batch of 50 costs the recovery's history the task's 5 events, not the 12 each that a Map
of two Task states did.
"""

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows.delivery.breaker import BreakerConfig
from workflows.delivery.failure import record_failure
from workflows.kernel.models import DeadLetter, FailureReport, NotificationTarget, utc_now
from workflows.recovery.outcomes import Endpoint
from workflows.storage import Store

# Dead letters per probe: with more, the workflow probes again at once (`expiring`).
EXPIRED_PER_PROBE = 50
WINDOW_ENDED = "Delivery.WindowEnded"
_SQS_BATCH = 10  # SendMessageBatch's most entries


class DeadLetterOrder(BaseModel):
    """One parked notification to dead-letter, with why."""

    notification: NotificationTarget
    error: str
    cause: str


class DeadLetterQueue:
    """The notifications' dead-letter queue (SQS)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, letters: list[DeadLetter]) -> None:
        """One SendMessageBatch per ten; an entry SQS refused fails the call (the Lambda is
        retried, so a letter may arrive twice, never not at all)."""
        for start in range(0, len(letters), _SQS_BATCH):
            batch = letters[start:start + _SQS_BATCH]
            answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(index), "MessageBody": json.dumps(letter.model_dump(mode="json"),
                                                             separators=(",", ":"))}
                for index, letter in enumerate(batch)])
            if answer.get("Failed"):
                raise RuntimeError(f"the dead-letter queue refused {answer['Failed']}")


def expired(store: Store, endpoint: Endpoint, now: datetime,
            breaker: BreakerConfig) -> list[tuple[dict, DeadLetterOrder]]:
    """Up to EXPIRED_PER_PROBE parked notifications accepted longer than the retry window ago
    (the oldest come first), each with its parked item's key."""
    orders = []
    for parked_key, parked in store.oldest_parked(endpoint.tenant, endpoint.subscription_id,
                                                  limit=EXPIRED_PER_PROBE):
        if now - parked.since < breaker.retry_window:
            break
        orders.append((parked_key, DeadLetterOrder(
            notification=parked.notification, error=WINDOW_ENDED,
            cause=f"parked since {parked.parked_at.isoformat()} behind the open circuit "
                  f"breaker; the retry window ended")))
    return orders


def dead_letter(orders: list[tuple[dict, DeadLetterOrder]], *, store: Store,
                queue: DeadLetterQueue, execution_arn: str) -> int:
    """Record, send and unpark each, a queue batch at a time; how many."""
    for start in range(0, len(orders), _SQS_BATCH):
        batch = orders[start:start + _SQS_BATCH]
        letters = [record_failure(FailureReport(notification=order.notification,
                                                error=order.error, cause=order.cause,
                                                execution_arn=execution_arn), store=store)
                   for _, order in batch]
        queue.send(letters)
        queued_at = utc_now()
        for letter in letters:
            # Its place in the dead letters' index, as put_dead_letter wrote it.
            position = f"{letter.failed_at.isoformat()}#{letter.event_id}#{letter.subscription_id}"
            store.mark_dead_letter_queued(letter.tenant, letter.event_id, letter.subscription_id,
                                          position, queued_at)
        for parked_key, _ in batch:
            store.unpark(parked_key)
    return len(orders)
