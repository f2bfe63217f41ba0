"""Usage plans as API Gateway throttles with them: a token bucket per API key and plan.

The authorizer names the request's API key by value (`usageIdentifierKey`); the usage plan
holding that key sets its bucket's rate and burst. `UsagePlanLimits` reads both from the
emulated API Gateway, where the tenant-limits function puts tenants' keys at run time, and
keeps each answer `cache_seconds` (2): a tier changed by an operator applies within 2 s.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RateLimit:
    """A usage plan's throttle, per key: `rate` requests/s sustained, bursts up to `burst`."""

    rate: float = 100.0
    burst: int = 200


class TokenBucket:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._at = clock()
        self._lock = threading.Lock()

    def follow(self, limit: RateLimit) -> "TokenBucket":
        """The plan's throttle changed: refill at the old rate until now, then the new one."""
        with self._lock:
            if limit != self._limit:
                self._refill()
                self._limit = limit
                self._tokens = min(self._tokens, float(limit.burst))
        return self

    def take(self) -> float:
        """0 if a request may pass now, else the seconds until one may."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._limit.rate

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._limit.burst, self._tokens + (now - self._at) * self._limit.rate)
        self._at = now


# What the local gateway applies when it is given no usage plans to read (a gateway tested
# alone), and to a key whose plan sets no throttle (in AWS the stage's throttle alone).
DEFAULT_RATE_LIMIT = RateLimit()
LOOKUP_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    id: str
    limit: RateLimit


class UsagePlanLimits:
    """API key value → the usage plan holding it, read from API Gateway (a boto3 client)."""

    def __init__(self, client: Any, *, cache_seconds: float = LOOKUP_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._api = client
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._plans: dict[str, tuple[float, Plan | None]] = {}  # key value → read at, plan
        self._key_ids: dict[str, str] = {}  # key value → its id

    def plan_of(self, key_value: str) -> Plan | None:
        """The plan of an enabled key; None when no such key is in a usage plan (API
        Gateway's INVALID_API_KEY, a 403)."""
        now = self._clock()
        with self._lock:
            cached = self._plans.get(key_value)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        plan = self._read(key_value)
        with self._lock:
            self._plans[key_value] = (now, plan)
        return plan

    def _read(self, key_value: str) -> Plan | None:
        key_id = self._key_ids.get(key_value)
        plans = self._api.get_usage_plans(keyId=key_id)["items"] if key_id else []
        if not plans:  # a key made or made again since: look its id up by value
            key_id = self._key_id(key_value)
            plans = self._api.get_usage_plans(keyId=key_id)["items"] if key_id else []
        if not plans:
            return None
        throttle = plans[0].get("throttle") or {}
        limit = RateLimit(float(throttle["rateLimit"]), int(throttle["burstLimit"])) \
            if "rateLimit" in throttle and "burstLimit" in throttle else DEFAULT_RATE_LIMIT
        return Plan(str(plans[0]["id"]), limit)

    def _key_id(self, key_value: str) -> str | None:
        request: dict[str, Any] = {"includeValues": True, "limit": 500}
        found: dict[str, str] = {}  # a disabled or deleted key is forgotten
        while True:
            page = self._api.get_api_keys(**request)
            found.update({key["value"]: str(key["id"]) for key in page.get("items", [])
                          if key.get("enabled")})
            if not page.get("position"):
                break
            request["position"] = page["position"]
        self._key_ids = found
        return found.get(key_value)
