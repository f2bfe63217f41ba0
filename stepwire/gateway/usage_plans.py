"""The usage plan of each tenant, as API Gateway throttles it: a token bucket per tenant."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """The usage plan, per tenant: `rate` requests/s sustained, bursts up to `burst`."""

    rate: float = 100.0
    burst: int = 200


class TokenBucket:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass now, else the seconds until one may."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._limit.burst,
                               self._tokens + (now - self._at) * self._limit.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._limit.rate


# API Gateway's default account-level throttle.
DEFAULT_RATE_LIMIT = RateLimit()
