"""The EventBridge ingress: the bus's rule puts each event on the ingress queue (durable), and
its consumer accepts it as the API does. A message leaves the queue only once its event is
stored or refused; AWS faults before that leave it there for another try (then the ingress
dead-letter queue)."""

import json
from typing import Any

from workflows.ingest.accept import check_size, envelope_owner, parse_published, refuse
from workflows.ingest.fan_out import FanOut
from workflows.kernel.errors import InvalidEvent

SOURCE = "eventbridge"
# A message the consumer could not take (AWS kept failing) is received again after the queue's
# visibility timeout (180 s) at most this many times, about 2.5 hours, then it goes to the
# ingress dead-letter queue (its alarm fires) beside the refused events.
MAX_RECEIVES = 50
VISIBILITY_SECONDS = 180


def receive(body: str, message_id: str, *, fan_out: FanOut, sqs: Any,
            refused_queue_url: str, max_data_bytes: int) -> None:
    """Accept one EventBridge event from the ingress queue, or refuse it with the reason."""
    try:
        raw = json.loads(body)
    except ValueError:
        raw = None
    received_id = str(raw["id"]) if isinstance(raw, dict) and raw.get("id") else None
    try:
        published = parse_published(raw)
        check_size(published, max_data_bytes)
    except InvalidEvent as exc:
        refuse(sqs, refused_queue_url, body, exc.detail, message_id=message_id, source=SOURCE,
               received_id=received_id)
        return
    fan_out.accept(published, envelope_owner(raw), SOURCE)
