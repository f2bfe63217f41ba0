"""Filtered pages over DynamoDB index pages: each item exactly once across pages."""

import math
from collections.abc import Callable
from typing import Any, TypeVar

Item = TypeVar("Item")
Position = dict[str, str]
# (page size, start after) → (items, the index's LastEvaluatedKey or None)
FetchPage = Callable[[int, Position | None], tuple[list[dict[str, Any]], Position | None]]
INDEX_POSITION = ("pk", "sk", "gsi1pk", "gsi1sk")


def collect(fetch: FetchPage, keep: Callable[[dict[str, Any]], Item | None], limit: int,
            position: Position | None, *,
            examine_at_most: float = math.inf) -> tuple[list[Item], Position | None]:
    """Up to `limit` kept items from `position` on, and the position to resume from (None when
    nothing is left). The position is the last item looked at, kept or not.

    At most `examine_at_most` index items are looked at (a page's size is what DynamoDB reads,
    filtered or not): a filter that matches little answers fewer than `limit` items and a
    position to go on from, so no request walks a whole index."""
    items: list[Item] = []
    more = True
    budget = examine_at_most
    while more and len(items) < limit and budget > 0:
        size = int(min(max(limit - len(items), 10), budget))
        budget -= size
        page, last = fetch(size, position)
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
