"""Subscriptions and their signing secrets (encrypted at rest)."""

from datetime import datetime
from typing import Any

from workflows.kernel.models import SigningSecret, Subscription, SubscriptionStatus, utc_now
from workflows.secrets import secret_box
from workflows.storage import table
from workflows.storage.items import (
    STATUS,
    TableAccess,
    from_item,
    position,
    tenant_key,
    to_item,
)


class SubscriptionStore(TableAccess):
    def put_subscription(self, subscription: Subscription, secrets: list[SigningSecret]) -> None:
        sort_key = table.subscription_key(subscription.id)
        self._db.put_item(TableName=self._table, Item=to_item({
            table.PARTITION_KEY: table.tenant_key(subscription.tenant),
            table.SORT_KEY: sort_key,
            **subscription.model_dump(mode="json"),
            "secrets": [{
                "ciphertext": secret_box.encrypt(self._data_key, s.value, sort_key),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            } for s in secrets],
        }))

    def get_subscription(self, tenant: str, subscription_id: str) -> Subscription | None:
        item = self._get(tenant_key(tenant, table.subscription_key(subscription_id)))
        return Subscription.model_validate(item) if item else None

    def signing_secrets(self, tenant: str, subscription_id: str) -> list[str]:
        """The secrets that sign now: the current one and any rotated-out one not yet expired."""
        return [s.value for s in self.subscription_secrets(tenant, subscription_id)]

    def subscription_secrets(self, tenant: str, subscription_id: str) -> list[SigningSecret]:
        """The secrets that sign now, with their expiry (the current one has none)."""
        return active_secrets(self._data_key, 
            self._get(tenant_key(tenant, table.subscription_key(subscription_id))))

    def list_subscriptions(self, tenant: str) -> list[Subscription]:
        items = self._query_prefix(table.tenant_key(tenant), "SUB#")
        return [Subscription.model_validate(item) for item in items]

    def subscriptions_after(self, tenant: str, after: str | None,
                            limit: int) -> tuple[list[Subscription], str | None]:
        """Up to `limit` subscriptions in id order after the sort key `after`, and the sort key
        to continue from (None at the end): an event's fan-out walks them a page at a time."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": to_item({
                ":pk": table.tenant_key(tenant),
                # "SUB#" sorts before every subscription key, "SUB$" after them.
                ":from": after + "\x00" if after else "SUB#", ":to": "SUB$"}),
            "ConsistentRead": True, "Limit": limit}
        page = self._db.query(**request)
        items = [from_item(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return ([Subscription.model_validate(i) for i in items],
                from_item(last)[table.SORT_KEY] if last else None)

    def set_subscription_status(self, tenant: str, subscription_id: str,
                                status: SubscriptionStatus) -> Subscription | None:
        """None if the subscription no longer exists."""
        return self.update_subscription(tenant, subscription_id, {STATUS: status.value})

    def subscriptions_page(self, tenant: str, limit: int,
                           after: dict[str, str] | None) -> tuple[list[Subscription], dict | None]:
        page = self._db.query(**self._page_request(
            "pk = :pk AND begins_with(sk, :prefix)",
            {":pk": table.tenant_key(tenant), ":prefix": "SUB#"}, limit, after))
        items = [from_item(i) for i in page.get("Items", [])]
        last = position(items[-1], (table.PARTITION_KEY, table.SORT_KEY)) \
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
                Key=tenant_key(tenant, table.subscription_key(subscription_id)),
                UpdateExpression=update, ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names or None, ExpressionAttributeValues=to_item(values),
                ReturnValues="ALL_NEW")["Attributes"]
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return Subscription.model_validate(from_item(item))

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        try:
            self._db.delete_item(TableName=self._table,
                                 Key=tenant_key(tenant, table.subscription_key(subscription_id)),
                                 ConditionExpression="attribute_exists(pk)")
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False


def active_secrets(data_key: str, item: dict[str, Any] | None) -> list[SigningSecret]:
    """The secrets of a subscription item that sign now (a rotated-out one until it expires)."""
    if not item:
        return []
    now = utc_now()
    return [
        SigningSecret(value=secret_box.decrypt(data_key, s["ciphertext"], item[table.SORT_KEY]),
                      expires_at=s.get("expires_at"))
        for s in item.get("secrets", [])
        if not s.get("expires_at") or datetime.fromisoformat(s["expires_at"]) > now
    ]
