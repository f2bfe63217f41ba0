"""Dead letters: the tenant's queryable view of the dead-letter queue."""

from typing import Any

from workflows.kernel.models import DeadLetter
from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, plain_key, tenant_key, to_item


class DeadLetterStore(TableAccess):
    @staticmethod
    def dead_letter_key(dead_letter: DeadLetter) -> dict:
        """The dead letter's key in DynamoDB JSON: the workflows' MarkQueued state sets
        `queued_at` on it once the letter is on the queue."""
        return tenant_key(dead_letter.tenant, table.dead_letter_key(dead_letter.event_id,
                                                                    dead_letter.subscription_id))

    def put_dead_letter(self, dead_letter: DeadLetter, webhook_id: str) -> None:
        """The tenant's, queryable view of one DLQ message (one per notification, the latest)."""
        failed_at = dead_letter.failed_at.isoformat()
        self._db.put_item(TableName=self._table, Item=to_item({
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
        return [from_item(i) for i in page.get("Items", [])], \
            plain_key(page.get("LastEvaluatedKey"))

    def delete_dead_letter(self, tenant: str, event_id: str, subscription_id: str,
                           position: str) -> bool:
        """Delete the dead letter unless a newer failure replaced it since it was read."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=tenant_key(tenant, table.dead_letter_key(event_id, subscription_id)),
                ConditionExpression="gsi1sk = :position",
                ExpressionAttributeValues=to_item({":position": position}))
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
