"""The rate limit's counters: deliveries started per endpoint and second."""

from workflows.delivery.rate_limit import WINDOW_KEPT_SECONDS, Window
from workflows.storage import table
from workflows.storage.items import TableAccess, key, to_item


class RateLimitStore(TableAccess):
    def take_delivery_token(self, tenant: str, subscription_id: str, window: Window) -> int:
        """Count one more delivery in `window` (one UpdateItem, never refused); returns how
        many have been counted there, this one included: within the rate it may go, beyond it
        its place says how long to wait."""
        answer = self._db.update_item(
            TableName=self._table,
            Key=key(table.rate_window_partition(tenant, subscription_id), str(window.index)),
            UpdateExpression="ADD taken :one SET #ttl = if_not_exists(#ttl, :expires)",
            ExpressionAttributeNames={"#ttl": table.TTL_ATTRIBUTE},
            ExpressionAttributeValues=to_item({
                ":one": 1, ":expires": int(window.ends_at) + WINDOW_KEPT_SECONDS}),
            ReturnValues="UPDATED_NEW")
        return int(answer["Attributes"]["taken"]["N"])
