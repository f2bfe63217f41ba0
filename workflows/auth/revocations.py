"""Revoked API tokens: one token by its `jti`, or every token of a subject issued until then.

Stored under the tenant (`workflows/storage/revocations.py`), so an admin revokes only its own
tenant's tokens. Each revocation expires (DynamoDB TTL) after the longest token lifetime: by
then every token it refuses has expired anyway. The authorizer asks about every token, so
answers are cached for `cache_seconds`; a revocation made through the same object is seen by it
at once.
"""

import time
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.auth.answer_cache import AnswerCache
from workflows.auth.tokens import PREVIOUS_KEY_WINDOW
from workflows.kernel.models import utc_now
from workflows.storage.revocations import Kind, RevocationKey, RevocationStore

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
    """Revokes tokens and answers whether one is revoked, with a short cache of the answers."""

    def __init__(self, store: RevocationStore, *, cache_seconds: float = 30.0,
                 max_cached: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cache: AnswerCache[RevocationKey, datetime | None] = AnswerCache(
            cache_seconds, max_entries=max_cached, clock=clock)  # when revoked, if it was

    def revoke(self, tenant: str, request: RevocationRequest) -> Revocation:
        now = utc_now()
        expires_at = now + KEEP_FOR
        for kind, value in _named(request.jti, request.sub):
            self._store.put((tenant, kind, value), now, expires_at)
            self._cache.remember((tenant, kind, value), now)
        return Revocation(jti=request.jti, sub=request.sub, revoked_at=now,
                          expires_at=expires_at)

    def is_revoked(self, tenant: str, jti: str | None, sub: str, issued_at: datetime) -> bool:
        wanted = [(tenant, kind, value) for kind, value in _named(jti, sub)]
        known = self._cache.fresh(wanted)
        missing = [key for key in wanted if key not in known]
        if missing:
            read = self._store.revoked_at(missing)
            for key in missing:
                known[key] = read.get(key)
                self._cache.remember(key, known[key])
        subject_revoked_at = known[(tenant, "sub", sub)]
        return (jti is not None and known[(tenant, "jti", jti)] is not None) or (
            subject_revoked_at is not None and issued_at <= subject_revoked_at)


def _named(jti: str | None, sub: str | None) -> list[tuple[Kind, str]]:
    named: tuple[tuple[Kind, str | None], ...] = (("jti", jti), ("sub", sub))
    return [(kind, value) for kind, value in named if value is not None]
