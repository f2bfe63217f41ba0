"""Restart markers: what was started again after its event's window, by 5-minute bucket.

The reconciler finds an event's notifications through the event (it reads the events created
in its window). A notification restarted later (a replay, a redrive, a release of parked
notifications, the reconciler's own restart) runs in a new Express execution that the event's
window no longer covers: its marker, in the bucket of its restart, is how the reconciler looks
at it again. The same for an event whose fan-out the reconciler started again. One write per
restart, on those rare paths only (never on the fan-out's own starts); kept a day.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, to_item

BUCKET_SECONDS = 300
MARKER_TTL = timedelta(days=1)


def restart_bucket(at: datetime) -> str:
    """The 5-minute bucket of `at`, as its partition names it (`2026-12-06T10:05`)."""
    epoch = int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M")


def buckets_between(start: datetime, end: datetime) -> list[str]:
    """Every bucket that holds a moment of [start, end], oldest first."""
    first = int(start.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    last = int(end.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return [restart_bucket(datetime.fromtimestamp(epoch, UTC))
            for epoch in range(first, last + 1, BUCKET_SECONDS)]


class RestartMarkerStore(TableAccess):
    def mark_restart(self, tenant: str, event_id: str, subscription_id: str,
                     at: datetime) -> None:
        """A notification restarted at `at`."""
        self._put_marker(at, tenant=tenant, event_id=event_id, subscription_id=subscription_id)

    def mark_fan_out_restart(self, tenant: str, event_id: str, event_type: str,
                             created_at: datetime, at: datetime) -> None:
        """An event's fan-out started again at `at` (by the reconciler): with what judging the
        event again takes, so that a fan-out that dies once more is found once more."""
        self._put_marker(at, tenant=tenant, event_id=event_id, type=event_type,
                         created_at=created_at.isoformat(), restarted_at=at.isoformat())

    def _put_marker(self, at: datetime, **fields: str) -> None:
        self._db.put_item(TableName=self._table, Item=to_item({
            table.PARTITION_KEY: table.restarts_partition(restart_bucket(at)),
            table.SORT_KEY: table.restart_marker_key(fields["tenant"], fields["event_id"],
                                                     fields.get("subscription_id")),
            table.TTL_ATTRIBUTE: int((at + MARKER_TTL).timestamp()), **fields}))

    def restart_markers(self, bucket: str, after: dict[str, Any] | None,
                        limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a bucket's markers (`tenant`, `event_id`, and `subscription_id` for a
        notification or `type`, `created_at`, `restarted_at` for a fan-out), and where the next
        page starts (None: the bucket is read)."""
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": table.restarts_partition(bucket)}),
            "Limit": limit}
        if after:
            request["ExclusiveStartKey"] = to_item(after)
        page = self._db.query(**request)
        last = page.get("LastEvaluatedKey")
        return [from_item(i) for i in page.get("Items", [])], from_item(last) if last else None
