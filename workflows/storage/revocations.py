"""Revoked API tokens: one item per revoked `jti` or subject, under the tenant.

Kept by DynamoDB TTL until every token it refuses has expired; not part of `Store` (the
authorizer reads it and needs nothing else of the table).
"""

from datetime import datetime
from typing import Any, Literal

from workflows.storage import table
from workflows.storage.items import tenant_key, to_item

Kind = Literal["jti", "sub"]
RevocationKey = tuple[str, Kind, str]  # (tenant, kind, value)
_READ_ATTEMPTS = 5


class RevocationStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def put(self, key: RevocationKey, revoked_at: datetime, expires_at: datetime) -> None:
        """Unconditional: a later revocation of a subject covers more tokens."""
        tenant, kind, value = key
        self._db.put_item(TableName=self._table, Item=to_item({
            table.PARTITION_KEY: table.tenant_key(tenant),
            table.SORT_KEY: table.revocation_key(kind, value),
            "kind": kind, "value": value, "revoked_at": revoked_at.isoformat(),
            table.TTL_ATTRIBUTE: int(expires_at.timestamp()),
        }))

    def revoked_at(self, keys: list[RevocationKey]) -> dict[RevocationKey, datetime]:
        """When each of `keys` (one tenant's, at most 100) was revoked; absent if it was not."""
        by_sort_key = {table.revocation_key(kind, value): (tenant, kind, value)
                       for tenant, kind, value in keys}
        request = {self._table: {"Keys": [tenant_key(tenant, table.revocation_key(kind, value))
                                          for tenant, kind, value in keys]}}
        found: dict[RevocationKey, datetime] = {}
        for _ in range(_READ_ATTEMPTS):
            answer = self._db.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                found[by_sort_key[item[table.SORT_KEY]["S"]]] = datetime.fromisoformat(
                    item["revoked_at"]["S"])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        # Throttled throughout: refuse to guess (the authorization fails, closed).
        raise RuntimeError("the token revocations could not be read (throttled)")
