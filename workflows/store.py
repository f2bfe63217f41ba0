"""DynamoDB storage of subscriptions, events, notifications and attempts (one table)."""

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from workflows import secret_box, table
from workflows.models import (
    Attempt,
    DeadLetter,
    Event,
    Notification,
    NotificationStatus,
    NotificationTarget,
    SigningSecret,
    Subscription,
    SubscriptionStatus,
    utc_now,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

STATUS = "status"  # the attribute MarkDelivered in notification.asl.json sets
DELIVERED_AT = "delivered_at"


def _to_item(values: dict[str, Any]) -> dict:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _from_item(item: dict) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _key(partition: str, sort_key: str) -> dict:
    return _to_item({table.PARTITION_KEY: partition, table.SORT_KEY: sort_key})


def _tenant_key(tenant: str, sort_key: str) -> dict:
    return _key(table.tenant_key(tenant), sort_key)


def _event_key(tenant: str, event_id: str, sort_key: str = table.EVENT_SORT_KEY) -> dict:
    return _key(table.event_partition(tenant, event_id), sort_key)


class Store:
    """Every read and write of the table. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str, *, data_key_secret_id: str,
                 retention: timedelta = timedelta(days=30)) -> None:
        self._db = client
        self._table = table_name
        self._data_key = data_key_secret_id
        self._retention = retention

    def _expires_at(self, now: datetime) -> int:
        return int((now + self._retention).timestamp())

    # --- subscriptions -------------------------------------------------------------------

    def put_subscription(self, subscription: Subscription, secrets: list[SigningSecret]) -> None:
        sort_key = table.subscription_key(subscription.id)
        self._db.put_item(TableName=self._table, Item=_to_item({
            table.PARTITION_KEY: table.tenant_key(subscription.tenant),
            table.SORT_KEY: sort_key,
            **subscription.model_dump(mode="json"),
            "secrets": [{
                "ciphertext": secret_box.encrypt(self._data_key, s.value, sort_key),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            } for s in secrets],
        }))

    def get_subscription(self, tenant: str, subscription_id: str) -> Subscription | None:
        item = self._get(_tenant_key(tenant, table.subscription_key(subscription_id)))
        return Subscription.model_validate(item) if item else None

    def signing_secrets(self, tenant: str, subscription_id: str) -> list[str]:
        """The secrets that sign now: the current one and any rotated-out one not yet expired."""
        return [s.value for s in self.subscription_secrets(tenant, subscription_id)]

    def subscription_secrets(self, tenant: str, subscription_id: str) -> list[SigningSecret]:
        """The secrets that sign now, with their expiry (the current one has none)."""
        return self._active_secrets(
            self._get(_tenant_key(tenant, table.subscription_key(subscription_id))))

    def _active_secrets(self, item: dict[str, Any] | None) -> list[SigningSecret]:
        if not item:
            return []
        now = utc_now()
        return [
            SigningSecret(value=secret_box.decrypt(self._data_key, s["ciphertext"],
                                                   item[table.SORT_KEY]),
                          expires_at=s.get("expires_at"))
            for s in item.get("secrets", [])
            if not s.get("expires_at") or datetime.fromisoformat(s["expires_at"]) > now
        ]

    def get_for_delivery(self, tenant: str, event_id: str, subscription_id: str
                         ) -> tuple[Event | None, Subscription | None, list[str]]:
        """The event, the subscription and its signing secrets, in one BatchGetItem."""
        subscription_sk = table.subscription_key(subscription_id)
        request = {self._table: {"Keys": [_event_key(tenant, event_id),
                                          _tenant_key(tenant, subscription_sk)],
                                 "ConsistentRead": True}}
        items: dict[str, dict[str, Any]] = {}
        while request:
            page = self._db.batch_get_item(RequestItems=request)
            for raw in page["Responses"].get(self._table, []):
                item = _from_item(raw)
                items[item[table.SORT_KEY]] = item
            request = page.get("UnprocessedKeys")
        event_item, subscription_item = items.get(table.EVENT_SORT_KEY), items.get(subscription_sk)
        return (_event(event_item) if event_item else None,
                Subscription.model_validate(subscription_item) if subscription_item else None,
                [s.value for s in self._active_secrets(subscription_item)])

    def list_subscriptions(self, tenant: str) -> list[Subscription]:
        items = self._query_prefix(table.tenant_key(tenant), "SUB#")
        return [Subscription.model_validate(item) for item in items]

    def set_subscription_status(self, tenant: str, subscription_id: str,
                                status: SubscriptionStatus) -> Subscription | None:
        """None if the subscription no longer exists."""
        return self.update_subscription(tenant, subscription_id, {STATUS: status.value})

    # --- events --------------------------------------------------------------------------

    def put_event_if_new(self, event: Event, ingest_execution: str) -> str:
        """Store `event` unless its id exists: returns the ingest execution that owns it."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_to_item({
                    table.PARTITION_KEY: table.event_partition(event.tenant, event.id),
                    table.SORT_KEY: table.EVENT_SORT_KEY,
                    table.EVENTS_BY_TIME_PARTITION_KEY: table.events_by_time_key(event.tenant),
                    table.EVENTS_BY_TIME_SORT_KEY: f"{event.created_at.isoformat()}#{event.id}",
                    table.TTL_ATTRIBUTE: self._expires_at(event.created_at),
                    "id": event.id, "tenant": event.tenant, "type": event.type,
                    "data": json.dumps(event.data, separators=(",", ":")),
                    "created_at": event.created_at.isoformat(),
                    "ingest_execution": ingest_execution,
                }),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return ingest_execution
        except self._db.exceptions.ConditionalCheckFailedException:
            existing = self._get(_event_key(event.tenant, event.id)) or {}
            return existing.get("ingest_execution", "")

    def get_event(self, tenant: str, event_id: str) -> Event | None:
        item = self._get(_event_key(tenant, event_id))
        return _event(item) if item else None

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
                notifications[item["subscription_id"]] = Notification.model_validate(item)
        return _event(event_item), list(notifications.values())

    # --- notifications -------------------------------------------------------------------

    def create_notifications(self, targets: Iterable[NotificationTarget]) -> None:
        now = utc_now()
        requests = [{"PutRequest": {"Item": _to_item({
            table.PARTITION_KEY: table.event_partition(t.tenant, t.event_id),
            table.SORT_KEY: table.notification_key(t.subscription_id),
            table.TTL_ATTRIBUTE: self._expires_at(now),
            "tenant": t.tenant, "event_id": t.event_id, "subscription_id": t.subscription_id,
            "webhook_id": t.webhook_id, STATUS: NotificationStatus.PENDING.value,
            "updated_at": now.isoformat(),
        })}} for t in targets]
        for start in range(0, len(requests), 25):
            batch = {self._table: requests[start:start + 25]}
            while batch:
                batch = self._db.batch_write_item(RequestItems=batch).get("UnprocessedItems")

    def record_attempt(self, target: NotificationTarget, attempt: Attempt,
                       status: NotificationStatus, execution_arn: str | None = None) -> None:
        """One attempt row, then the notification's new status. Two plain writes: the attempt
        log is append-only, and a lost status update is repaired by the next attempt."""
        self._db.put_item(TableName=self._table, Item=_to_item({
            table.PARTITION_KEY: table.event_partition(target.tenant, target.event_id),
            table.SORT_KEY: table.attempt_key(target.subscription_id, attempt.at.isoformat()),
            table.TTL_ATTRIBUTE: self._expires_at(attempt.at),
            "event_id": target.event_id, "subscription_id": target.subscription_id,
            **attempt.model_dump(mode="json"),
        }))
        self.set_notification_status(target, status, execution_arn)

    def set_notification_status(self, target: NotificationTarget, status: NotificationStatus,
                                execution_arn: str | None = None) -> None:
        values = {":s": status.value, ":now": utc_now().isoformat()}
        update = "SET #s = :s, updated_at = :now"
        if execution_arn:
            update += ", execution_arn = :arn"
            values[":arn"] = execution_arn
        self._db.update_item(TableName=self._table, Key=self.notification_key(target),
                             UpdateExpression=update, ExpressionAttributeNames={"#s": STATUS},
                             ExpressionAttributeValues=_to_item(values))

    @staticmethod
    def notification_key(target: NotificationTarget) -> dict:
        """The notification's key in DynamoDB JSON, as the MarkDelivered task uses it."""
        return _event_key(target.tenant, target.event_id,
                          table.notification_key(target.subscription_id))

    # --- the HTTP API: pages, subscription changes, dead letters --------------------------
    # A page position (`after`) is the last returned item's key, as plain strings.

    def subscriptions_page(self, tenant: str, limit: int,
                           after: dict[str, str] | None) -> tuple[list[Subscription], dict | None]:
        page = self._db.query(**self._page_request(
            "pk = :pk AND begins_with(sk, :prefix)",
            {":pk": table.tenant_key(tenant), ":prefix": "SUB#"}, limit, after))
        items = [_from_item(i) for i in page.get("Items", [])]
        last = _position(items[-1], (table.PARTITION_KEY, table.SORT_KEY)) \
            if items and "LastEvaluatedKey" in page else None
        return [Subscription.model_validate(i) for i in items], last

    def update_subscription(self, tenant: str, subscription_id: str,
                            changes: dict[str, Any]) -> Subscription | None:
        """Set the given fields (a None removes it); None if the subscription does not exist."""
        names, values, sets, removes = {}, {":now": utc_now().isoformat()}, [], []
        for index, (name, value) in enumerate(changes.items()):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":v{index}"] = value
                sets.append(f"#f{index} = :v{index}")
        update = "SET " + ", ".join([*sets, "updated_at = :now"])
        if removes:
            update += " REMOVE " + ", ".join(removes)
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key=_tenant_key(tenant, table.subscription_key(subscription_id)),
                UpdateExpression=update, ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names or None, ExpressionAttributeValues=_to_item(values),
                ReturnValues="ALL_NEW")["Attributes"]
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return Subscription.model_validate(_from_item(item))

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        try:
            self._db.delete_item(TableName=self._table,
                                 Key=_tenant_key(tenant, table.subscription_key(subscription_id)),
                                 ConditionExpression="attribute_exists(pk)")
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

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
            request["ExpressionAttributeValues"].update(_to_item({":type": event_type}))
        page = self._db.query(**request)
        items = [_from_item(i) for i in page.get("Items", [])]
        return items, _plain_key(page.get("LastEvaluatedKey"))

    def notification_statuses(self, tenant: str, event_id: str) -> list[str]:
        items = self._query_prefix(table.event_partition(tenant, event_id),
                                   table.NOTIFICATION_PREFIX, projection=("sk", STATUS))
        return [i[STATUS] for i in items if table.ATTEMPT_INFIX not in i["sk"]]

    def put_dead_letter(self, dead_letter: DeadLetter, webhook_id: str) -> None:
        """The tenant's, queryable view of one DLQ message (one per notification, the latest)."""
        failed_at = dead_letter.failed_at.isoformat()
        self._db.put_item(TableName=self._table, Item=_to_item({
            table.PARTITION_KEY: table.tenant_key(dead_letter.tenant),
            table.SORT_KEY: table.dead_letter_key(dead_letter.event_id,
                                                  dead_letter.subscription_id),
            table.EVENTS_BY_TIME_PARTITION_KEY: table.dead_letters_by_time_key(dead_letter.tenant),
            table.EVENTS_BY_TIME_SORT_KEY:
                f"{failed_at}#{dead_letter.event_id}#{dead_letter.subscription_id}",
            table.TTL_ATTRIBUTE: self._expires_at(dead_letter.failed_at),
            **dead_letter.model_dump(mode="json"), "webhook_id": webhook_id,
        }))

    def dead_letters_page(self, tenant: str, *, since: str, page_size: int,
                          after: dict[str, str] | None) -> tuple[list[dict[str, Any]], dict | None]:
        """One index page of dead letters, oldest first, failed at or after `since`."""
        page = self._db.query(**self._page_request(
            "gsi1pk = :g AND gsi1sk >= :since",
            {":g": table.dead_letters_by_time_key(tenant), ":since": since},
            page_size, after, index=True, newest_first=False))
        return [_from_item(i) for i in page.get("Items", [])], \
            _plain_key(page.get("LastEvaluatedKey"))

    def delete_dead_letter(self, tenant: str, event_id: str, subscription_id: str,
                           position: str) -> bool:
        """Delete the dead letter unless a newer failure replaced it since it was read."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=_tenant_key(tenant, table.dead_letter_key(event_id, subscription_id)),
                ConditionExpression="gsi1sk = :position",
                ExpressionAttributeValues=_to_item({":position": position}))
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def _page_request(self, condition: str, values: dict[str, str], limit: int,
                      after: dict[str, str] | None, *, index: bool = False,
                      newest_first: bool = True) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": _to_item(values), "Limit": limit,
        }
        if index:
            request["IndexName"] = table.EVENTS_BY_TIME_INDEX
            request["ScanIndexForward"] = not newest_first
        else:
            request["ConsistentRead"] = True
        if after:
            request["ExclusiveStartKey"] = _to_item(after)
        return request

    # --- helpers -------------------------------------------------------------------------

    def _get(self, key: dict) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _from_item(item) if item else None

    def _query_prefix(self, partition: str, prefix: str,
                      projection: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every item of `partition` whose sort key starts with `prefix` ("" for all)."""
        items: list[dict[str, Any]] = []
        condition = "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk"
        values = {":pk": partition, ":prefix": prefix} if prefix else {":pk": partition}
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": _to_item(values), "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(projection)))
            kwargs["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(projection)}
        while True:
            page = self._db.query(**kwargs)
            items.extend(_from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _position(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {name: item[name] for name in names}


def _plain_key(key: dict | None) -> dict[str, str] | None:
    return _from_item(key) if key else None


def _event(item: dict[str, Any]) -> Event:
    return Event.model_validate({**item, "data": json.loads(item["data"])})
