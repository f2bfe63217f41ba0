"""Filtered pages over DynamoDB index pages: each item exactly once across pages."""

from collections.abc import Callable
from typing import Any, TypeVar

Item = TypeVar("Item")
Position = dict[str, str]
# (page size, start after) → (items, the index's LastEvaluatedKey or None)
FetchPage = Callable[[int, Position | None], tuple[list[dict[str, Any]], Position | None]]
INDEX_POSITION = ("pk", "sk", "gsi1pk", "gsi1sk")


def collect(fetch: FetchPage, keep: Callable[[dict[str, Any]], Item | None], limit: int,
            position: Position | None) -> tuple[list[Item], Position | None]:
    """Up to `limit` kept items from `position` on, and the position to resume from (None when
    nothing is left). The position is the last item looked at, kept or not."""
    items: list[Item] = []
    more = True
    while more and len(items) < limit:
        page, last = fetch(max(limit - len(items), 10), position)
        for index, raw in enumerate(page):
            position = {k: raw[k] for k in INDEX_POSITION}
            if (kept := keep(raw)) is not None:
                items.append(kept)
            if len(items) == limit:
                more = index < len(page) - 1 or last is not None
                break
        else:
            more = last is not None
            position = last if last is not None else position
    return items, position if more else None
