"""What every store shares: DynamoDB JSON conversion, keys, reads and pages of the one table.

Keys are built by `workflows.storage.table`; nothing outside `workflows/storage` sees them.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from workflows.storage import table

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

STATUS = "status"
DELIVERED_AT = "delivered_at"
# On a notification's row: the attempts that delivered it (written with the status at once).
DELIVERED_ATTEMPTS = "delivered_attempts"


def to_item(values: dict[str, Any]) -> dict:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_item(item: dict) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def key(partition: str, sort_key: str) -> dict:
    return to_item({table.PARTITION_KEY: partition, table.SORT_KEY: sort_key})


def tenant_key(tenant: str, sort_key: str) -> dict:
    return key(table.tenant_key(tenant), sort_key)


def event_key(tenant: str, event_id: str, sort_key: str = table.EVENT_SORT_KEY) -> dict:
    return key(table.event_partition(tenant, event_id), sort_key)


def position(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {name: item[name] for name in names}


def plain_key(last_key: dict | None) -> dict[str, str] | None:
    return from_item(last_key) if last_key else None


class TableAccess:
    """The table, its client and the reads every store uses. `client` is a boto3 DynamoDB
    client."""

    def __init__(self, client: Any, table_name: str, *, data_key_secret_id: str,
                 retention: timedelta = timedelta(days=30)) -> None:
        self._db = client
        self._table = table_name
        self._data_key = data_key_secret_id
        self._retention = retention

    def _expires_at(self, now: datetime) -> int:
        return int((now + self._retention).timestamp())

    def _get(self, item_key: dict, *, consistent: bool = True) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=item_key,
                                 ConsistentRead=consistent).get("Item")
        return from_item(item) if item else None

    def _query_prefix(self, partition: str, prefix: str,
                      projection: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every item of `partition` whose sort key starts with `prefix` ("" for all)."""
        items: list[dict[str, Any]] = []
        condition = "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk"
        values = {":pk": partition, ":prefix": prefix} if prefix else {":pk": partition}
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values), "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(projection)))
            kwargs["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(projection)}
        while True:
            page = self._db.query(**kwargs)
            items.extend(from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _page_request(self, condition: str, values: dict[str, str], limit: int,
                      after: dict[str, str] | None, *, index: bool = False,
                      newest_first: bool = True) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values), "Limit": limit,
        }
        if index:
            request["IndexName"] = table.EVENTS_BY_TIME_INDEX
            request["ScanIndexForward"] = not newest_first
        else:
            request["ConsistentRead"] = True
        if after:
            request["ExclusiveStartKey"] = to_item(after)
        return request

