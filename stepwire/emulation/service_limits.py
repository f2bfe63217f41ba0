"""Message and event sizes as SQS and EventBridge measure and refuse them (DynamoDB's 400 KB
item is moto's own check already; Lambda's 6 MB is the Lambda host's; Step Functions' are in
`stepfunctions/payload_limits.py`).

- SQS SendMessage / SendMessageBatch: a message is its body plus its attributes (name, type
  and value), in UTF-8 bytes, up to the queue's MaximumMessageSize (1 MiB by default, as
  AWS). moto counted the body's characters alone. Refused with InvalidParameterValue, "One or
  more parameters are invalid. Reason: Message must be shorter than N bytes.", as AWS.
- EventBridge PutEvents: the entries' sizes (CalculatePutEventsEntrySize: Time 14 bytes,
  Source, DetailType, Detail and each Resource in UTF-8) summed, up to 1 MB (1,048,576 bytes,
  raised from 256 KB in January 2026). Over it the whole request is refused with
  ValidationException "Total size of the entries in the request is over the limit.", as AWS
  answers; moto accepted any size.

Cost: a sum of lengths per message or event sent.
"""

import base64
from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.models import SQSBackend

from stepwire.emulation.stepfunctions.payload_limits import utf8_size

PUT_EVENTS_LIMIT = 1_048_576
_TIME_BYTES = 14


def _utf8(text: Any) -> int:
    return utf8_size(text) if isinstance(text, str) else 0


def _attribute_bytes(name: str, attribute: dict[str, Any]) -> int:
    binary = attribute.get("BinaryValue")
    value = (len(base64.b64decode(binary)) if isinstance(binary, str)
             else len(binary) if isinstance(binary, bytes)
             else _utf8(attribute.get("StringValue")))
    return _utf8(name) + _utf8(attribute.get("DataType")) + value


def message_size(body: str, attributes: dict[str, Any] | None) -> int:
    return _utf8(body) + sum(_attribute_bytes(name, attribute)
                             for name, attribute in (attributes or {}).items())


def _check_message(backend: SQSBackend, queue_name: str, body: str,
                   attributes: dict[str, Any] | None) -> None:
    limit = int(backend.get_queue(queue_name).attributes["MaximumMessageSize"])
    if message_size(body, attributes) > limit:
        raise InvalidParameterValue("One or more parameters are invalid. Reason: Message must "
                                    f"be shorter than {limit} bytes.")


_send_message = SQSBackend.send_message
_send_message_batch = SQSBackend.send_message_batch


def _send_within_size(self: SQSBackend, queue_name: str, message_body: str,
                      message_attributes: dict[str, Any] | None = None,
                      *args: Any, **kwargs: Any) -> Any:
    _check_message(self, queue_name, message_body, message_attributes)
    return _send_message(self, queue_name, message_body, message_attributes, *args, **kwargs)


def _send_batch_within_size(self: SQSBackend, queue_name: str,
                            entries: dict[str, dict[str, Any]]) -> Any:
    for entry in entries.values():
        _check_message(self, queue_name, entry.get("MessageBody", ""),
                       entry.get("MessageAttributes"))
    return _send_message_batch(self, queue_name, entries)


def entry_size(entry: dict[str, Any]) -> int:
    """CalculatePutEventsEntrySize, as the EventBridge user guide gives it."""
    return ((_TIME_BYTES if entry.get("Time") is not None else 0)
            + _utf8(entry.get("Source")) + _utf8(entry.get("DetailType"))
            + _utf8(entry.get("Detail"))
            + sum(_utf8(resource) for resource in entry.get("Resources") or ()))


_put_events = EventsBackend.put_events


def _put_events_within_size(self: EventsBackend, events: list[dict[str, Any]]) -> Any:
    if sum(entry_size(entry) for entry in events) > PUT_EVENTS_LIMIT:
        raise ValidationException("Total size of the entries in the request is over the limit.")
    return _put_events(self, events)


def install() -> None:
    # moto's methods replaced (monkeypatch).
    SQSBackend.send_message = _send_within_size  # type: ignore[method-assign]
    SQSBackend.send_message_batch = _send_batch_within_size  # type: ignore[method-assign]
    EventsBackend.put_events = _put_events_within_size  # type: ignore[method-assign]
