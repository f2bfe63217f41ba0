"""Published events: stored once, listed by time."""

import json
from typing import Any

from workflows.kernel.models import Attempt, Event, Notification
from workflows.storage import table
from workflows.storage.items import (
    DELIVERED_ATTEMPTS,
    TableAccess,
    event_key,
    from_item,
    plain_key,
    to_item,
)


class EventStore(TableAccess):
    def put_event_if_new(self, event: Event, owner: str) -> str:
        """Store `event` unless its id exists: returns the owner that stored it (the
        acceptance that wrote it; a repeat of that acceptance is not a duplicate)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item({
                    table.PARTITION_KEY: table.event_partition(event.tenant, event.id),
                    table.SORT_KEY: table.EVENT_SORT_KEY,
                    table.EVENTS_BY_TIME_PARTITION_KEY: table.events_by_time_key(event.tenant),
                    table.EVENTS_BY_TIME_SORT_KEY: f"{event.created_at.isoformat()}#{event.id}",
                    table.TTL_ATTRIBUTE: self._expires_at(event.created_at),
                    "id": event.id, "tenant": event.tenant, "type": event.type,
                    # As the client sent it: escaping non-ASCII would triple a CJK event's size.
                    "data": json.dumps(event.data, separators=(",", ":"), ensure_ascii=False),
                    "created_at": event.created_at.isoformat(),
                    "accepted_by": owner,
                }),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return owner
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            existing = from_item(exc.response["Item"]) if exc.response.get("Item") else \
                self._get(event_key(event.tenant, event.id)) or {}
            return existing.get("accepted_by", existing.get("ingest_execution", ""))

    def get_event(self, tenant: str, event_id: str) -> Event | None:
        item = self._get(event_key(tenant, event_id))
        return event_of(item) if item else None

    def get_event_with_notifications(self, tenant: str,
                                     event_id: str) -> tuple[Event, list[Notification]] | None:
        """The event, its notifications and their attempts: one query of the event's partition."""
        items = self._query_prefix(table.event_partition(tenant, event_id), "")
        event_item = next((i for i in items if i["sk"] == table.EVENT_SORT_KEY), None)
        if event_item is None:
            return None
        notifications: dict[str, Notification] = {}
        for item in items:  # sort keys order each notification before its attempts
            if table.ATTEMPT_INFIX in item["sk"]:
                notifications[item["subscription_id"]].attempts.append(Attempt.model_validate(item))
            elif item["sk"].startswith(table.NOTIFICATION_PREFIX):
                notifications[item["subscription_id"]] = Notification.model_validate(
                    {**item, "attempts": item.get(DELIVERED_ATTEMPTS, [])})
        for notification in notifications.values():  # the delivered ones came from the row
            notification.attempts.sort(key=lambda attempt: attempt.at)
        return event_of(event_item), list(notifications.values())

    def events_page(self, tenant: str, *, since: str, until: str, event_type: str | None,
                    page_size: int, after: dict[str, str] | None
                    ) -> tuple[list[dict[str, Any]], dict | None]:
        """One index page of event summaries (no `data`), newest first, within [since, until]."""
        request = self._page_request(
            "gsi1pk = :g AND gsi1sk BETWEEN :since AND :until",
            {":g": table.events_by_time_key(tenant), ":since": since, ":until": until},
            page_size, after, index=True)
        request["ProjectionExpression"] = "pk, sk, gsi1pk, gsi1sk, id, #t, created_at"
        request["ExpressionAttributeNames"] = {"#t": "type"}
        if event_type:
            request["FilterExpression"] = "#t = :type"
            request["ExpressionAttributeValues"].update(to_item({":type": event_type}))
        page = self._db.query(**request)
        items = [from_item(i) for i in page.get("Items", [])]
        return items, plain_key(page.get("LastEvaluatedKey"))


def event_of(item: dict[str, Any]) -> Event:
    return Event.model_validate({**item, "data": json.loads(item["data"])})
