"""What the reconciler reads and keeps: its checkpoint (with the lease of the one run that
acts), and the few reads of a window it makes, each as small as the keys allow.

Reads are eventually consistent (half the price): everything the reconciler examines was
written minutes before it looks.
"""

from datetime import datetime
from typing import Any

from workflows.storage import table
from workflows.storage.items import STATUS, TableAccess, from_item, key, tenant_key, to_item

Page = tuple[list[dict[str, Any]], dict[str, Any] | None]
# A notification row as the reconciler judges it (the attempt rows share its prefix).
_NOTIFICATION_FIELDS = ("sk", "subscription_id", "webhook_id", STATUS, "updated_at",
                        "execution_arn", "lease_until")
# What the events index holds besides its keys (GET /events reads the same).
_EVENT_FIELDS = ("pk", "sk", "gsi1pk", "gsi1sk", "id", "type", "created_at")
QUEUED_AT = "queued_at"  # set on a dead letter once it is on the queue


def _projection(names: tuple[str, ...]) -> dict[str, Any]:
    return {"ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(names))),
            "ExpressionAttributeNames": {f"#p{i}": n for i, n in enumerate(names)}}


def window_key(at: datetime, *, end: bool = False) -> str:
    """A bound of `<time>#<id>` sort keys: every key of `at`'s instant sorts after the start
    bound and before the end bound ('~' sorts after every id character)."""
    return f"{at.isoformat()}#~" if end else at.isoformat()


class ReconcilerStore(TableAccess):
    _CHECKPOINT = key(table.RECONCILER_PARTITION, table.CHECKPOINT_SORT_KEY)

    # --- the checkpoint and the run lease --------------------------------------------------

    def take_reconciler_lease(self, run_id: str, now: datetime,
                              lease_seconds: int) -> dict[str, Any] | None:
        """The checkpoint, now held by `run_id` until `lease_seconds` from `now`; None while
        another run holds it (runs never overlap, even if one outlives its schedule)."""
        try:
            item = self._db.update_item(
                TableName=self._table, Key=self._CHECKPOINT,
                UpdateExpression="SET lease_until = :until, lease_owner = :me",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues=to_item({
                    ":until": int(now.timestamp()) + lease_seconds, ":me": run_id,
                    ":now": int(now.timestamp())}),
                ReturnValues="ALL_NEW")["Attributes"]
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(item)

    def save_reconciler_progress(self, run_id: str, values: dict[str, Any],
                                 release: bool) -> bool:
        """Set the checkpoint's fields (a None removes one), and end the lease if `release`;
        False when the lease is no longer this run's (it outlived it: another run acts)."""
        sets = [f"#f{i} = :v{i}" for i, v in enumerate(values.values()) if v is not None]
        removes = [f"#f{i}" for i, v in enumerate(values.values()) if v is None]
        if release:
            removes += ["lease_until", "lease_owner"]
        update = (f"SET {', '.join(sets)} " if sets else "") + \
            (f"REMOVE {', '.join(removes)}" if removes else "")
        attribute_values = {f":v{i}": v for i, v in enumerate(values.values()) if v is not None}
        request: dict[str, Any] = {
            "TableName": self._table, "Key": self._CHECKPOINT, "UpdateExpression": update,
            "ConditionExpression": "lease_owner = :me",
            "ExpressionAttributeValues": to_item({**attribute_values, ":me": run_id})}
        if values:
            request["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(values)}
        try:
            self._db.update_item(**request)
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def reset_reconciler_checkpoint(self, until: datetime) -> None:
        """Everything before `until` counts as examined (an operator's choice, or a test's)."""
        self._db.put_item(TableName=self._table, Item={
            **self._CHECKPOINT, **to_item({"until": until.isoformat()})})

    # --- the reads of a window ---------------------------------------------------------------

    def events_created_between(self, tenant: str, since: datetime, until: datetime,
                               after: dict[str, Any] | None, limit: int) -> Page:
        """One page of the tenant's events created in [since, until], oldest first, from the
        events index: ids, types and times, never `data`."""
        return self._index_page(table.events_by_time_key(tenant), since, until, after, limit,
                                **_projection(_EVENT_FIELDS))

    def notification_rows(self, tenant: str, event_id: str) -> list[dict[str, Any]]:
        """The event's notification rows (status, last write, the execution in charge): one
        query of its partition, the attempt rows left out here."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({
                ":pk": table.event_partition(tenant, event_id),
                ":prefix": table.NOTIFICATION_PREFIX}),
            **_projection(_NOTIFICATION_FIELDS)}
        rows: list[dict[str, Any]] = []
        while True:
            page = self._db.query(**request)
            rows.extend(row for row in map(from_item, page.get("Items", []))
                        if table.ATTEMPT_INFIX not in row[table.SORT_KEY])
            if "LastEvaluatedKey" not in page:
                return rows
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def notification_row(self, tenant: str, event_id: str,
                         subscription_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table,
            Key=key(table.event_partition(tenant, event_id),
                    table.notification_key(subscription_id)),
            **_projection(_NOTIFICATION_FIELDS)).get("Item")
        return from_item(item) if item else None

    def unqueued_dead_letters(self, tenant: str, since: datetime, until: datetime,
                              after: dict[str, Any] | None, limit: int) -> Page:
        """One page of the tenant's dead letters that failed in [since, until] and were never
        marked queued (the workflow's send, or its mark, did not happen)."""
        items, last = self._index_page(
            table.dead_letters_by_time_key(tenant), since, until, after, limit,
            FilterExpression=f"attribute_not_exists({QUEUED_AT})")
        # Its place in the index: marking it queued checks that no newer failure replaced it.
        return [{**i, "position": i[table.EVENTS_BY_TIME_SORT_KEY]} for i in items], last

    def mark_dead_letter_queued(self, tenant: str, event_id: str, subscription_id: str,
                                position: str, at: datetime) -> bool:
        """False when the dead letter is gone (redriven) or replaced by a newer failure."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=tenant_key(tenant, table.dead_letter_key(event_id, subscription_id)),
                UpdateExpression=f"SET {QUEUED_AT} = :at",
                ConditionExpression=f"{table.EVENTS_BY_TIME_SORT_KEY} = :position",
                ExpressionAttributeValues=to_item({":at": at.isoformat(),
                                                   ":position": position}))
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def endpoints_in_recovery(self, tenant: str, after: dict[str, Any] | None,
                              limit: int) -> Page:
        """One page of the tenant's endpoint health rows whose breaker is not closed or that
        still name a recovery (one that closed the breaker and died before releasing all)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": "#b <> :closed OR attribute_exists(recovery)",
            "ExpressionAttributeNames": {"#b": "breaker"},
            "ExpressionAttributeValues": to_item({
                ":pk": table.tenant_key(tenant), ":prefix": table.HEALTH_PREFIX,
                ":closed": "closed"}),
            "Limit": limit}
        if after:
            request["ExclusiveStartKey"] = to_item(after)
        items, last = self._page(request)
        return [{**i, "subscription_id": i[table.SORT_KEY].removeprefix(table.HEALTH_PREFIX)}
                for i in items], last

    def _index_page(self, partition: str, since: datetime, until: datetime,
                    after: dict[str, Any] | None, limit: int, **more: Any) -> Page:
        request: dict[str, Any] = {
            "TableName": self._table, "IndexName": table.EVENTS_BY_TIME_INDEX,
            "KeyConditionExpression": "gsi1pk = :g AND gsi1sk BETWEEN :since AND :until",
            "ExpressionAttributeValues": to_item({
                ":g": partition, ":since": window_key(since),
                ":until": window_key(until, end=True)}),
            "ScanIndexForward": True, "Limit": limit, **more}
        if after:
            request["ExclusiveStartKey"] = to_item(after)
        return self._page(request)

    def _page(self, request: dict[str, Any]) -> Page:
        page = self._db.query(**request)
        last = page.get("LastEvaluatedKey")
        return [from_item(i) for i in page.get("Items", [])], from_item(last) if last else None
