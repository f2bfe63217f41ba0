"""Tenants: one row each in the `TENANTS` partition, the reconciler's registry too.

A row with a `status` is a tenant record (made by an operator, or `stepwire token --tenant`
locally). A subscription's creation also writes the tenant's row (`registered_at` only), so the
reconciler walks every tenant that ever had one; such a row without `status` is not a tenant
the API accepts tokens of.
"""

from typing import Any

from workflows.kernel.models import utc_now
from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, key, plain_key, to_item

TENANT_FIELDS = ("status", "tier", "created_at", "updated_at")


def _tenant_key(tenant: str) -> dict:
    return key(table.TENANTS_PARTITION, tenant)


class TenantRegistryStore(TableAccess):
    def register_tenant(self, tenant: str) -> None:
        """Idempotent: a put of the same row, only on the rare path that creates a
        subscription (an update expression keeps the first `registered_at`)."""
        self._db.update_item(
            TableName=self._table, Key=_tenant_key(tenant),
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

    # --- tenant records ----------------------------------------------------------------------

    def create_tenant(self, tenant: str, status: str, tier: str) -> dict[str, Any] | None:
        """The new record; None when the tenant exists already (a registry row without a
        status becomes the record)."""
        return self._write_record(
            tenant, "SET #status = :status, tier = :tier, created_at = :now, updated_at = :now, "
                    "registered_at = if_not_exists(registered_at, :now)",
            "attribute_not_exists(#status)", {"#status": "status"},
            {":status": status, ":tier": tier})

    def get_tenant(self, tenant: str, *, consistent: bool = True) -> dict[str, Any] | None:
        record = self._get(_tenant_key(tenant), consistent=consistent)
        return _record(record) if record and "status" in record else None

    def update_tenant(self, tenant: str, fields: dict[str, str]) -> dict[str, Any] | None:
        """Set `fields` (status, tier) of an existing tenant; None when there is none."""
        sets = ", ".join([f"#{name} = :{name}" for name in fields] + ["updated_at = :now"])
        return self._write_record(
            tenant, f"SET {sets}", "attribute_exists(#existing)",
            {**{f"#{name}": name for name in fields}, "#existing": "status"},
            {f":{name}": value for name, value in fields.items()})

    def _write_record(self, tenant: str, update: str, condition: str, names: dict[str, str],
                      values: dict[str, str]) -> dict[str, Any] | None:
        """The record after `update` (`:now` is now), or None when `condition` failed."""
        try:
            answer = self._db.update_item(
                TableName=self._table, Key=_tenant_key(tenant), UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item({**values, ":now": utc_now().isoformat()}),
                ReturnValues="ALL_NEW")
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return _record(from_item(answer["Attributes"]))

    def tenants_page(self, limit: int, after: dict[str, str] | None, *, reads: int = 5
                     ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """Tenant records in id order. Registry rows without a status are skipped, and more is
        read (up to `reads` queries) to fill the page, so a page is short only when few
        records lie among many registry rows; its position goes on from there."""
        records: list[dict[str, Any]] = []
        position = after
        for _ in range(reads):
            request = self._page_request("pk = :pk", {":pk": table.TENANTS_PARTITION},
                                         limit - len(records), position)
            page = self._db.query(**request)
            records += [_record(r) for r in map(from_item, page.get("Items", []))
                        if "status" in r]
            position = plain_key(page.get("LastEvaluatedKey"))
            if position is None or len(records) == limit:
                break
        return records, position


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item[table.SORT_KEY], **{name: item.get(name) for name in TENANT_FIELDS}}
