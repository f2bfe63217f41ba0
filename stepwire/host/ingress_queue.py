"""The EventBridge ingress, locally: the rule's SQS queue is drained into a backlog (moto's SQS
costs O(queue length) per call: a backlog kept there slows everything), and the backlog goes to
the ingress function in batches of up to 10, as Lambda's SQS event source hands them over in
AWS. A message the function did not take (an AWS fault) is tried again after the queue's
visibility timeout (× --retry-time-scale), and after as many receives as the cloud's queue
allows it goes to the ingress dead-letter queue; an AWS fault on the queue itself is waited
out, never the end of it."""

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stepwire.host.lambda_host import LambdaHost
from workflows.ingest.eventbridge import MAX_RECEIVES, VISIBILITY_SECONDS
from workflows.kernel.observability import logger

INGRESS_FUNCTION = "stepwire-ingress"
BATCH = 10
QUEUE_PAUSE = 0.2  # seconds before a queue that did not answer is asked again

Entry = tuple[str, str]  # (SQS message id, body)


class IngressQueue:
    def __init__(self, sqs: Any, queue_url: str, dead_letter_queue_url: str,
                 lambdas: LambdaHost, stopping: threading.Event, taken: Callable[[str], None],
                 time_scale: float) -> None:
        self._sqs, self._queue, self._lambdas = sqs, queue_url, lambdas
        self._dead_letters = dead_letter_queue_url
        self._stopping, self._taken = stopping, taken
        self._retry_after = max(QUEUE_PAUSE, VISIBILITY_SECONDS * time_scale)
        self._receives: dict[str, int] = {}
        self._invisible: deque[tuple[float, Entry]] = deque()  # (visible again at, entry)
        self.backlog: deque[Entry] = deque()

    def poll(self) -> None:
        """Rule → SQS → the backlog."""
        while not self._stopping.is_set():
            try:
                messages = self._sqs.receive_message(QueueUrl=self._queue,
                                                     MaxNumberOfMessages=BATCH,
                                                     WaitTimeSeconds=1).get("Messages", [])
                if messages:
                    self.backlog.extend((m["MessageId"], m["Body"]) for m in messages)
                    self._sqs.delete_message_batch(QueueUrl=self._queue, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)])
            except Exception:  # a throttled queue: the messages wait there, as in AWS
                logger.warning("the ingress queue did not answer; trying again", exc_info=True)
                self._stopping.wait(QUEUE_PAUSE)

    def consume(self) -> None:
        """The backlog → the ingress function, four batches at a time."""
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="stepwire-ingress") as pool:
            while not self._stopping.is_set():
                while self._invisible and self._invisible[0][0] <= time.monotonic():
                    self.backlog.append(self._invisible.popleft()[1])
                batches: list[list[Entry]] = []
                while self.backlog and len(batches) < 4:
                    batches.append([self.backlog.popleft()
                                    for _ in range(min(BATCH, len(self.backlog)))])
                if not batches:
                    self._stopping.wait(0.02)
                    continue
                list(pool.map(self._hand_over, batches))

    def _dead_lettered(self, body: str) -> bool:
        try:
            self._sqs.send_message(QueueUrl=self._dead_letters, MessageBody=body)
            return True
        except Exception:  # the dead-letter queue throttled too: kept for another receive
            logger.warning("the ingress dead-letter queue did not answer", exc_info=True)
            return False

    def _hand_over(self, batch: list[Entry]) -> None:
        records = [{"messageId": message_id, "body": body, "eventSource": "aws:sqs",
                    "receiptHandle": message_id, "attributes": {}, "messageAttributes": {}}
                   for message_id, body in batch]
        status, headers, answer = self._lambdas.invoke(
            INGRESS_FUNCTION, json.dumps({"Records": records}).encode())
        if status != 200 or "x-amz-function-error" in headers:
            # Every record failed (or the function did): the whole batch comes back.
            failed = {message_id for message_id, _ in batch}
        else:
            failed = {f["itemIdentifier"]
                      for f in json.loads(answer or b"{}").get("batchItemFailures", [])}
        visible_at = time.monotonic() + self._retry_after
        for message_id, body in batch:
            received = self._receives.pop(message_id, 0) + 1
            if message_id not in failed:
                self._taken(message_id)
            elif received >= MAX_RECEIVES and self._dead_lettered(body):  # the redrive policy
                self._taken(message_id)
            else:  # visible again after the visibility timeout, as in SQS
                self._receives[message_id] = received
                self._invisible.append((visible_at, (message_id, body)))
