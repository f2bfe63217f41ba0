"""A short cache of what the authorizer read (revocations, tenants' status): each answer kept
for `seconds`, at most `max_entries` of them (then all are dropped: the next reads refill it)."""

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class AnswerCache(Generic[Key, Value]):
    def __init__(self, seconds: float, *, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[float, Value]] = {}  # read at, answer

    def fresh(self, keys: Iterable[Key]) -> dict[Key, Value]:
        """The answers of `keys` read less than `seconds` ago."""
        now = self._clock()
        with self._lock:
            return {key: self._entries[key][1] for key in keys if key in self._entries
                    and now - self._entries[key][0] < self._seconds}

    def remember(self, key: Key, value: Value) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (self._clock(), value)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)
