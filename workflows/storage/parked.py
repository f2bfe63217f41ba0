"""Notifications parked behind an open breaker: one partition per endpoint, oldest event first.

Parking is one transaction: the breaker must still be open under the same recovery execution,
the notification row becomes `parked`, and its parked item is written. The recovery closes the
breaker before it releases, so nothing can be parked after its last look (nothing stranded).
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows.delivery.breaker import BreakerState
from workflows.kernel.models import NotificationStatus, NotificationTarget, utc_now
from workflows.storage import table
from workflows.storage.endpoint_health import EndpointHealthStore
from workflows.storage.items import STATUS, event_key, from_item, key, to_item
from workflows.storage.notifications import LEASE_UNTIL


class ParkedNotification(BaseModel):
    notification: NotificationTarget
    # When its event was accepted: the retry window counts from here.
    since: datetime
    parked_at: datetime


class ParkedStore(EndpointHealthStore):
    def park(self, target: NotificationTarget, recovery_name: str, since: datetime) -> bool:
        """Park `target` under the endpoint's open breaker and recovery; False when the breaker
        is no longer open under that recovery, or the notification is already delivered."""
        now = utc_now()
        parked = ParkedNotification(notification=target, since=since, parked_at=now)
        try:
            self._db.transact_write_items(TransactItems=[
                {"ConditionCheck": {
                    "TableName": self._table,
                    "Key": self.health_key(target.tenant, target.subscription_id),
                    "ConditionExpression": "#b <> :closed AND recovery = :name",
                    "ExpressionAttributeNames": {"#b": "breaker"},
                    "ExpressionAttributeValues": to_item({
                        ":closed": BreakerState.CLOSED.value, ":name": recovery_name})}},
                {"Update": {
                    "TableName": self._table,
                    "Key": event_key(target.tenant, target.event_id,
                                     table.notification_key(target.subscription_id)),
                    "UpdateExpression": f"SET #s = :parked, updated_at = :now REMOVE {LEASE_UNTIL}",
                    "ConditionExpression": "#s <> :delivered",
                    "ExpressionAttributeNames": {"#s": STATUS},
                    "ExpressionAttributeValues": to_item({
                        ":parked": NotificationStatus.PARKED.value, ":now": now.isoformat(),
                        ":delivered": NotificationStatus.DELIVERED.value})}},
                {"Put": {"TableName": self._table, "Item": to_item({
                    table.PARTITION_KEY: table.parked_partition(target.tenant,
                                                                target.subscription_id),
                    # Ordered by acceptance: released oldest first, expired from the front.
                    table.SORT_KEY: table.parked_key(since.isoformat(), target.event_id),
                    table.TTL_ATTRIBUTE: self._expires_at(now),
                    **parked.model_dump(mode="json")})}},
            ])
            return True
        except self._db.exceptions.TransactionCanceledException:
            return False

    def oldest_parked(self, tenant: str, subscription_id: str,
                      limit: int) -> list[tuple[dict, ParkedNotification]]:
        """Up to `limit` parked notifications, oldest first, each with its item key."""
        page = self._db.query(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item(
                {":pk": table.parked_partition(tenant, subscription_id)}),
            ConsistentRead=True, Limit=limit)
        items = [from_item(i) for i in page.get("Items", [])]
        return [(key(i[table.PARTITION_KEY], i[table.SORT_KEY]),
                 ParkedNotification.model_validate(i)) for i in items]

    def unpark(self, parked_key: dict) -> None:
        self._db.delete_item(TableName=self._table, Key=parked_key)

    def parked_count(self, tenant: str, subscription_id: str) -> int:
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item(
                {":pk": table.parked_partition(tenant, subscription_id)}),
            "Select": "COUNT"}
        count = 0
        while True:
            page = self._db.query(**request)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def event_accepted_at(self, tenant: str, event_id: str) -> datetime | None:
        item = self._db.get_item(TableName=self._table, Key=event_key(tenant, event_id),
                                 ProjectionExpression="created_at",
                                 ConsistentRead=True).get("Item")
        return datetime.fromisoformat(item["created_at"]["S"]) if item else None
