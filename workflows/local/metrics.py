"""The local runtime's CloudWatch: the handlers' EMF records kept in memory for an hour and
summed per minute for the console's Health page, as the dashboard sums them in the cloud."""

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from workflows.observability import Metric

WINDOW_SECONDS = 3600
BUCKET_SECONDS = 60
# A record is (epoch seconds, metric name, value, dimensions of its first dimension set).
Sample = tuple[float, str, float, dict[str, str]]


class MetricsRecorder:
    """A metrics sink (`observability.set_metrics_sink`) with a one-hour memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._samples: deque[Sample] = deque()
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        [directive] = record["_aws"]["CloudWatchMetrics"]
        at = record["_aws"]["Timestamp"] / 1000
        dimensions = {name: record[name] for name in directive["Dimensions"][0]}
        with self._lock:
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                # EMF allows a list of values (Powertools writes one-element lists).
                for one in value if isinstance(value, list) else [value]:
                    self._samples.append((at, metric["Name"], float(one), dimensions))
            self._forget(self._clock())

    def _forget(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - WINDOW_SECONDS:
            self._samples.popleft()

    def summary(self) -> dict[str, Any]:
        """Per minute over the last hour (oldest first) and for the whole hour."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            samples = list(self._samples)
        start = math.floor((now - WINDOW_SECONDS) / BUCKET_SECONDS + 1) * BUCKET_SECONDS
        buckets: list[list[Sample]] = [[] for _ in range(WINDOW_SECONDS // BUCKET_SECONDS)]
        for sample in samples:
            index = int((sample[0] - start) // BUCKET_SECONDS)
            if 0 <= index < len(buckets):
                buckets[index].append(sample)
        return {
            "window_seconds": WINDOW_SECONDS, "bucket_seconds": BUCKET_SECONDS,
            "minutes": [{"at": int(start + i * BUCKET_SECONDS), **_aggregate(bucket)}
                        for i, bucket in enumerate(buckets)],
            "hour": _aggregate(samples),
        }


def _aggregate(samples: list[Sample]) -> dict[str, Any]:
    def values(metric: Metric, **dimensions: str) -> list[float]:
        return [value for _, name, value, dims in samples if name == metric.value
                and all(dims.get(k) == v for k, v in dimensions.items())]

    attempts = values(Metric.ATTEMPTS)
    by_outcome: dict[str, int] = {}
    for _, name, value, dims in samples:
        if name == Metric.ATTEMPTS.value:
            by_outcome[dims.get("Outcome", "?")] = by_outcome.get(dims.get("Outcome", "?"),
                                                                  0) + int(value)
    delivered, dead = sum(values(Metric.DELIVERED)), sum(values(Metric.DEAD_LETTERED))
    first = values(Metric.FIRST_ATTEMPT_SUCCESS)
    parked = values(Metric.PARKED_BACKLOG)
    return {
        "attempts": int(sum(attempts)),
        "attempts_by_outcome": by_outcome,
        "attempt_success_rate": _ratio(by_outcome.get("2xx", 0), sum(attempts)),
        "first_attempt_success_rate": _ratio(sum(first), len(first)),
        "delivered": int(delivered),
        "dead_lettered": int(dead),
        "delivery_success_rate": _ratio(delivered, delivered + dead),
        "attempt_latency_ms": _percentiles(values(Metric.ATTEMPT_LATENCY)),
        "end_to_end_latency_ms": _percentiles(values(Metric.END_TO_END_LATENCY)),
        "events_accepted": int(sum(values(Metric.EVENTS_ACCEPTED))),
        "breaker_opened": int(sum(values(Metric.BREAKER_OPENED))),
        "breaker_closed": int(sum(values(Metric.BREAKER_CLOSED))),
        "rate_limited_waits": int(sum(values(Metric.RATE_LIMITED_WAITS))),
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
