"""The local runtime's CloudWatch: the handlers' EMF records summed per minute for an hour, for
the console's Health page, as the dashboard sums them in the cloud.

A record is added to its minute as it arrives (sums, counts, the latencies for percentiles):
memory follows the minutes kept, not the notifications, which keeps a long run flat."""

import math
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from workflows.kernel.observability import Metric

WINDOW_SECONDS = 3600
BUCKET_SECONDS = 60
# Percentiles need every value, as CloudWatch's do: 8 bytes each.
DISTRIBUTIONS = (Metric.ATTEMPT_LATENCY.value, Metric.END_TO_END_LATENCY.value)


@dataclass
class Minute:
    """What the records of one minute add up to."""

    start: float
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    attempts_by_outcome: dict[str, int] = field(default_factory=dict)
    values: dict[str, array] = field(default_factory=dict)
    last_parked_backlog: float | None = None

    def add(self, name: str, value: float, dimensions: dict[str, str]) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == Metric.ATTEMPTS.value:
            outcome = dimensions.get("Outcome", "?")
            self.attempts_by_outcome[outcome] = self.attempts_by_outcome.get(outcome, 0) + \
                int(value)
        elif name == Metric.PARKED_BACKLOG.value:
            self.last_parked_backlog = value
        if name in DISTRIBUTIONS:
            self.values.setdefault(name, array("d")).append(value)


class MetricsRecorder:
    """A metrics sink (`observability.set_metrics_sink`) with a one-hour memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._minutes: deque[Minute] = deque()
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        [directive] = record["_aws"]["CloudWatchMetrics"]
        at = record["_aws"]["Timestamp"] / 1000
        dimensions = {name: record[name] for name in directive["Dimensions"][0]}
        start = math.floor(at / BUCKET_SECONDS) * BUCKET_SECONDS
        with self._lock:
            minute = self._minute(start)
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                # EMF allows a list of values (Powertools writes one-element lists).
                for one in value if isinstance(value, list) else [value]:
                    minute.add(metric["Name"], float(one), dimensions)
            self._forget(self._clock())

    def _minute(self, start: float) -> Minute:
        for minute in reversed(self._minutes):  # records arrive in about time order
            if minute.start == start:
                return minute
            if minute.start < start:
                break
        minute = Minute(start)
        self._minutes.append(minute)
        if len(self._minutes) > 1 and self._minutes[-2].start > start:
            self._minutes = deque(sorted(self._minutes, key=lambda m: m.start))
        return minute

    def _forget(self, now: float) -> None:
        while self._minutes and self._minutes[0].start + BUCKET_SECONDS <= now - WINDOW_SECONDS:
            self._minutes.popleft()

    def summary(self) -> dict[str, Any]:
        """Per minute over the last hour (oldest first) and for the whole hour."""
        now = self._clock()
        start = math.floor((now - WINDOW_SECONDS) / BUCKET_SECONDS + 1) * BUCKET_SECONDS
        with self._lock:
            self._forget(now)
            kept = {minute.start: minute for minute in self._minutes if minute.start >= start}
            slots = [kept.get(start + i * BUCKET_SECONDS)
                     for i in range(WINDOW_SECONDS // BUCKET_SECONDS)]
            return {
                "window_seconds": WINDOW_SECONDS, "bucket_seconds": BUCKET_SECONDS,
                "minutes": [{"at": int(start + i * BUCKET_SECONDS),
                             **_aggregate([minute] if minute else [])}
                            for i, minute in enumerate(slots)],
                "hour": _aggregate(kept.values()),
            }


def _aggregate(minutes: Iterable[Minute]) -> dict[str, Any]:
    minutes = list(minutes)

    def total(metric: Metric) -> float:
        return sum(minute.sums.get(metric.value, 0.0) for minute in minutes)

    def count(metric: Metric) -> int:
        return sum(minute.counts.get(metric.value, 0) for minute in minutes)

    def values(metric: Metric) -> list[float]:
        return [value for minute in minutes for value in minute.values.get(metric.value, ())]

    by_outcome: dict[str, int] = {}
    for minute in minutes:
        for outcome, made in minute.attempts_by_outcome.items():
            by_outcome[outcome] = by_outcome.get(outcome, 0) + made
    attempts = total(Metric.ATTEMPTS)
    delivered, dead = total(Metric.DELIVERED), total(Metric.DEAD_LETTERED)
    parked = [m.last_parked_backlog for m in minutes if m.last_parked_backlog is not None]
    return {
        "attempts": int(attempts),
        "attempts_by_outcome": by_outcome,
        "attempt_success_rate": _ratio(by_outcome.get("2xx", 0), attempts),
        "first_attempt_success_rate": _ratio(total(Metric.FIRST_ATTEMPT_SUCCESS),
                                             count(Metric.FIRST_ATTEMPT_SUCCESS)),
        "delivered": int(delivered),
        "dead_lettered": int(dead),
        "delivery_success_rate": _ratio(delivered, delivered + dead),
        "attempt_latency_ms": _percentiles(values(Metric.ATTEMPT_LATENCY)),
        "end_to_end_latency_ms": _percentiles(values(Metric.END_TO_END_LATENCY)),
        "events_accepted": int(total(Metric.EVENTS_ACCEPTED)),
        "breaker_opened": int(total(Metric.BREAKER_OPENED)),
        "breaker_closed": int(total(Metric.BREAKER_CLOSED)),
        "rate_limited_waits": int(total(Metric.RATE_LIMITED_WAITS)),
        "parked_backlog": parked[-1] if parked else None,
    }


def _ratio(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p90/p99, as CloudWatch reports percentiles of raw values."""
    ordered = sorted(values)

    def rank(p: int) -> float | None:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else None

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99)}
