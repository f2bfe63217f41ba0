"""Revoked API tokens: one token by its `jti`, or every token of a subject issued until then.

Stored in the table under the tenant, so an admin revokes only its own tenant's tokens. Each
revocation expires (DynamoDB TTL) after the longest token lifetime: by then every token it
refuses has expired anyway. The authorizer asks about every token, so answers are cached for
`cache_seconds`; a revocation made through the same object is seen by it at once.
"""

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows import table
from workflows.auth import PREVIOUS_KEY_WINDOW
from workflows.models import utc_now

Kind = Literal["jti", "sub"]
# The longest a revoked token can still be valid: its lifetime plus the clock leeway.
KEEP_FOR = PREVIOUS_KEY_WINDOW


class RevocationRequest(BaseModel):
    # Unknown fields are refused: a `tenant` in the body would suggest a reach it does not have.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # Optional but not nullable (the schema says so, and schema-valid input is accepted).
    jti: str = Field(default=None, min_length=1,  # type: ignore[assignment]
                     max_length=256, description="Revoke the one token with this `jti` claim")
    sub: str = Field(default=None, min_length=1,  # type: ignore[assignment]
                     max_length=256,
                     description="Revoke every token of this subject issued until now")

    @model_validator(mode="after")
    def _names_something(self) -> "RevocationRequest":
        if self.jti is None and self.sub is None:
            raise ValueError("name the token to revoke: 'jti', 'sub' or both")
        return self


class Revocation(BaseModel):
    jti: str | None
    sub: str | None
    revoked_at: datetime
    expires_at: datetime = Field(description="When the revocation is dropped: every token it "
                                             "refuses has expired by then")


class TokenRevocations:
    """Reads and writes revocations; `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str, *, cache_seconds: float = 30.0,
                 max_cached: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = client
        self._table = table_name
        self._cache_seconds = cache_seconds
        self._max_cached = max_cached
        self._clock = clock
        self._lock = threading.Lock()
        # (tenant, kind, value) → (read at, revoked at or None)
        self._cache: dict[tuple[str, Kind, str], tuple[float, datetime | None]] = {}

    def revoke(self, tenant: str, request: RevocationRequest) -> Revocation:
        now = utc_now()
        expires_at = now + KEEP_FOR
        for kind, value in self._named(request.jti, request.sub):
            # A later revocation of a subject covers more tokens: overwrite.
            self._db.put_item(TableName=self._table, Item={
                table.PARTITION_KEY: {"S": table.tenant_key(tenant)},
                table.SORT_KEY: {"S": table.revocation_key(kind, value)},
                "kind": {"S": kind}, "value": {"S": value},
                "revoked_at": {"S": now.isoformat()},
                table.TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
            })
            self._remember((tenant, kind, value), now)
        return Revocation(jti=request.jti, sub=request.sub, revoked_at=now,
                          expires_at=expires_at)

    def is_revoked(self, tenant: str, jti: str | None, sub: str, issued_at: datetime) -> bool:
        wanted = [(tenant, kind, value) for kind, value in self._named(jti, sub)]
        known = self._cached(wanted)
        missing = [key for key in wanted if key not in known]
        if missing:
            read = self._read(tenant, missing)
            for key in missing:
                self._remember(key, read.get(key))
                known[key] = read.get(key)
        token_revoked = jti is not None and known[(tenant, "jti", jti)] is not None
        subject_revoked_at = known[(tenant, "sub", sub)]
        return token_revoked or (subject_revoked_at is not None
                                 and issued_at <= subject_revoked_at)

    @staticmethod
    def _named(jti: str | None, sub: str | None) -> list[tuple[Kind, str]]:
        return [(kind, value) for kind, value in (("jti", jti), ("sub", sub))
                if value is not None]

    def _read(self, tenant: str, keys: list[tuple[str, Kind, str]]
              ) -> dict[tuple[str, Kind, str], datetime]:
        by_sort_key = {table.revocation_key(kind, value): (t, kind, value)
                       for t, kind, value in keys}
        request = {self._table: {"Keys": [
            {table.PARTITION_KEY: {"S": table.tenant_key(tenant)}, table.SORT_KEY: {"S": sk}}
            for sk in by_sort_key]}}
        found: dict[tuple[str, Kind, str], datetime] = {}
        for _ in range(5):  # unprocessed keys are rare (throttling); give up loudly after that
            answer = self._db.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                key = by_sort_key[item[table.SORT_KEY]["S"]]
                found[key] = datetime.fromisoformat(item["revoked_at"]["S"])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise RuntimeError("revocations could not be read (throttled); refusing to guess")

    def _cached(self, keys: list[tuple[str, Kind, str]]
                ) -> dict[tuple[str, Kind, str], datetime | None]:
        now = self._clock()
        with self._lock:
            return {key: self._cache[key][1] for key in keys
                    if key in self._cache and now - self._cache[key][0] < self._cache_seconds}

    def _remember(self, key: tuple[str, Kind, str], revoked_at: datetime | None) -> None:
        with self._lock:
            if len(self._cache) >= self._max_cached:
                self._cache.clear()  # bounded memory; the next reads refill it
            self._cache[key] = (self._clock(), revoked_at)
