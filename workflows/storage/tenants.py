"""The tenant registry: one row per tenant that has ever had a subscription.

The reconciler walks it (a tenant without a subscription has nothing to deliver, so nothing to
reconcile). Tenants as records of their own (limits, status) will live in the same partition.
"""

from workflows.kernel.models import utc_now
from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, to_item


class TenantRegistryStore(TableAccess):
    def register_tenant(self, tenant: str) -> None:
        """Idempotent: a put of the same row, only on the rare path that creates a
        subscription (an update expression keeps the first `registered_at`)."""
        self._db.update_item(
            TableName=self._table,
            Key=to_item({table.PARTITION_KEY: table.TENANTS_PARTITION, table.SORT_KEY: tenant}),
            UpdateExpression="SET registered_at = if_not_exists(registered_at, :now)",
            ExpressionAttributeValues=to_item({":now": utc_now().isoformat()}))

    def registered_tenants(self) -> list[str]:
        """Every registered tenant, in sort-key order (a stable order the reconciler resumes
        in). Eventually consistent: a tenant registered a moment ago has nothing old yet."""
        request = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": table.TENANTS_PARTITION}),
            "ProjectionExpression": "sk"}
        tenants: list[str] = []
        while True:
            page = self._db.query(**request)
            tenants.extend(from_item(item)[table.SORT_KEY] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return tenants
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
