"""Whether a tenant's tokens are served: the authorizer asks for every token it verifies.

A tenant is served while its record is `active`. Unregistered and suspended tenants are
refused with a detail that names the tenant and the remedy. Answers are cached for
`cache_seconds` (with API Gateway's own cache of the authorizer's result, the time a
suspension takes to apply); a change made through the same process is seen at once.
"""

import time
from collections.abc import Callable
from typing import Any, Protocol

from workflows.auth.answer_cache import AnswerCache


class TenantReader(Protocol):
    def get_tenant(self, tenant: str, *, consistent: bool = True) -> dict[str, Any] | None: ...


class TenantGate:
    def __init__(self, store: TenantReader, *, cache_seconds: float = 30.0,
                 max_cached: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cache: AnswerCache[str, str | None] = AnswerCache(
            cache_seconds, max_entries=max_cached, clock=clock)  # status, or None: no tenant

    def refusal(self, tenant: str) -> str | None:
        """Why `tenant`'s tokens are refused, or None when it is served."""
        status = self._status(tenant)
        if status is None:
            return (f"tenant '{tenant}' is not registered: an operator creates it "
                    "(POST /tenants), or locally `stepwire token --tenant` does")
        if status != "active":
            return (f"tenant '{tenant}' is {status}: its tokens are refused until an operator "
                    "resumes it (PATCH /tenants/{id} with status active)")
        return None

    def forget(self, tenant: str) -> None:
        self._cache.forget(tenant)

    def _status(self, tenant: str) -> str | None:
        cached = self._cache.fresh([tenant])
        if tenant in cached:
            return cached[tenant]
        # Eventually consistent: half the read's price; a change takes the cache's time anyway.
        record = self._store.get_tenant(tenant, consistent=False)
        status = record["status"] if record else None
        self._cache.remember(tenant, status)
        return status
