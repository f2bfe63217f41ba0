"""Size and shape limits of what Stepwire accepts, checked before an event is answered 202.

An event's `data` is stored as a DynamoDB map, which nests at most 32 levels; deeper JSON
would be accepted and then fail inside the ingest workflow. Both ingresses check it (the API
on the raw text, before any parser recurses into it).
"""

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_DATA_DEPTH = 32
# The largest request body the API reads (the event's `data` has its own, smaller, limit).
MAX_REQUEST_BYTES = 256 * 1024

# A JSON string (escapes included) or a bracket: strings are skipped, brackets counted.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def text_nests_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON `text` opens more than `limit` containers at once, without parsing it."""
    depth = 0
    for token in _TOKEN.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


def depth_of(value: Any) -> int:
    """How many containers nest in `value` (a scalar is 0), iteratively."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, depth = pending.pop()
        children = current.values() if isinstance(current, dict) else (
            current if isinstance(current, list) else None)
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _not_too_deep(data: dict[str, Any]) -> dict[str, Any]:
    if depth_of(data) > MAX_DATA_DEPTH:
        raise ValueError(f"'data' nests deeper than {MAX_DATA_DEPTH} levels")
    return data


EventData = Annotated[dict[str, Any], AfterValidator(_not_too_deep)]


def stored_size(data: Any) -> int:
    """The bytes `data` takes as stored: compact JSON, UTF-8, non-ASCII not escaped (escaping
    would make 3 bytes of a CJK character 6)."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def too_large(data: Any, limit: int) -> str | None:
    """Why `data` is refused for its size as stored, or None if it fits."""
    size = stored_size(data)
    return f"'data' is {size} bytes; the limit is {limit} bytes" if size > limit else None
