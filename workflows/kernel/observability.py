"""The one logger, tracer and metrics of every handler (Powertools).

- `logger`: structured JSON logs with correlation ids.
- Tracing: Powertools Tracer (X-Ray), built on first use and never when tracing is off (the
  local runtime, tests): importing the X-Ray SDK costs tenths of a second that a cold start and
  the local engine should not pay for nothing. `traced_handler`, `annotate` and `subsegment`
  are cheap no-ops then.
- Metrics: embedded metric format records (Powertools' CloudWatch EMF provider), namespace
  `Stepwire`, low-cardinality dimensions only (never tenant or event ids). Each record is
  written at once, one per fact, so concurrent local invocations never share a metric set. In
  Lambda a record is a line on stdout that CloudWatch turns into metrics; the local runtime
  swaps the sink and feeds the console's Health page from the same records.
"""

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from workflows.kernel.models import utc_now

SERVICE = "stepwire"
NAMESPACE = "Stepwire"

logger = Logger(service=SERVICE)

# --- tracing ---------------------------------------------------------------------------------


def tracing_enabled() -> bool:
    """As Powertools decides: off when POWERTOOLS_TRACE_DISABLED is true or outside Lambda."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("1", "true")
    return not disabled and bool(os.environ.get("LAMBDA_TASK_ROOT"))


@functools.cache
def tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def traced_handler(handler: Callable) -> Callable:
    """Powertools' `capture_lambda_handler`, decided at the first call, not at import."""

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if not tracing_enabled():
            return handler(event, context)
        return _captured(handler)(event, context)

    run.traced = True  # type: ignore[attr-defined]  # a marker the tests look for
    return run


@functools.cache
def _captured(handler: Callable) -> Callable:
    return tracer().capture_lambda_handler(handler)


def annotate(**values: str | None) -> None:
    """X-Ray annotations (indexed, searchable): tenant, event_id, webhook_id, …"""
    if not tracing_enabled():
        return
    for key, value in values.items():
        if value:
            tracer().put_annotation(key=key, value=str(value))


@contextmanager
def subsegment(name: str, **annotations: str | None) -> Iterator[None]:
    """A named subsegment of the current trace (the webhook POST)."""
    if not tracing_enabled():
        yield
        return
    with tracer().provider.in_subsegment(name) as segment:
        for key, value in annotations.items():
            if value:
                segment.put_annotation(key, str(value))
        yield


# --- metrics ---------------------------------------------------------------------------------


class Metric(StrEnum):
    """Every metric Stepwire emits; the CDK dashboard and alarms are built on these names."""

    ATTEMPTS = "Attempts"  # Count, by Outcome (status class) and in total
    ATTEMPT_LATENCY = "AttemptLatency"  # Milliseconds, by Outcome and in total
    FIRST_ATTEMPT_SUCCESS = "FirstAttemptSuccess"  # 1 or 0 per first attempt: Average = rate
    END_TO_END_LATENCY = "EndToEndLatency"  # Milliseconds, event accepted → delivered
    DELIVERED = "NotificationsDelivered"  # Count
    DEAD_LETTERED = "NotificationsDeadLettered"  # Count
    EVENTS_ACCEPTED = "EventsAccepted"  # Count, by Source (api | eventbridge)
    BREAKER_OPENED = "BreakerOpened"  # Count (endpoint health)
    BREAKER_CLOSED = "BreakerClosed"  # Count (endpoint health)
    PARKED_BACKLOG = "ParkedBacklog"  # Count, a gauge: notifications parked behind a breaker
    RATE_LIMITED_WAITS = "RateLimitedWaits"  # Count: deliveries held back by a rate limit
    # Count, by Kind: what a dead execution left behind, found and finished by the reconciler
    RECONCILER_FOUND = "ReconcilerFound"


UNITS = {
    Metric.ATTEMPT_LATENCY: "Milliseconds",
    Metric.END_TO_END_LATENCY: "Milliseconds",
}


class Outcome(StrEnum):
    """An attempt's outcome class: the status class, or no response at all."""

    SUCCESS = "2xx"
    REDIRECT = "3xx"
    CLIENT_ERROR = "4xx"
    SERVER_ERROR = "5xx"
    NO_RESPONSE = "no_response"  # timeout, refused, TLS, or a target the guard refused

    @classmethod
    def of(cls, status_code: int | None) -> "Outcome":
        if status_code is None or not 200 <= status_code < 600:
            return cls.NO_RESPONSE
        return list(cls)[status_code // 100 - 2]


Sink = Callable[[dict[str, Any]], None]


def _print_record(record: dict[str, Any]) -> None:
    print(json.dumps(record, separators=(",", ":")), flush=True)


_sink: Sink = _print_record


def set_metrics_sink(sink: Sink | None) -> None:
    """Where EMF records go: stdout (Lambda, the default) or, locally, an in-memory recorder."""
    global _sink
    _sink = sink or _print_record


def emit(values: Mapping[Metric, float], *, by: dict[str, str] | None = None,
         total_too: bool = False) -> dict[str, Any]:
    """One EMF record. `by`: extra dimensions besides `service`; `total_too`: the metrics are
    also aggregated without them (a second dimension set in the same record)."""
    record = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
    for metric, value in values.items():
        record.add_metric(name=metric.value, unit=UNITS.get(metric, "Count"), value=value)
    if by:
        record.add_dimension("service", SERVICE)
        for name, dimension in by.items():
            record.add_dimension(name, dimension)
        if total_too:
            record.dimension_sets.append({"service": SERVICE})
    # Typed as Powertools' TypedDict; a plain dict, which is what the sinks take.
    emf = cast(dict[str, Any], record.serialize_metric_set())
    try:
        _sink(emf)
    except Exception:  # a metric must never fail a delivery
        logger.exception("could not write a metric record")
    return emf


def attempt_made(status_code: int | None, latency_ms: int, *, first: bool) -> None:
    """A delivery attempt was made (delivery path)."""
    outcome = Outcome.of(status_code)
    values = {Metric.ATTEMPTS: 1, Metric.ATTEMPT_LATENCY: latency_ms}
    emit(values, by={"Outcome": outcome.value}, total_too=True)
    if first:
        emit({Metric.FIRST_ATTEMPT_SUCCESS: 1 if outcome is Outcome.SUCCESS else 0})


def notification_delivered(accepted_at: datetime) -> None:
    latency_ms = max(0, int((utc_now() - accepted_at).total_seconds() * 1000))
    emit({Metric.DELIVERED: 1, Metric.END_TO_END_LATENCY: latency_ms})


def notification_dead_lettered() -> None:
    emit({Metric.DEAD_LETTERED: 1})


def event_accepted(source: str) -> None:
    emit({Metric.EVENTS_ACCEPTED: 1}, by={"Source": source}, total_too=True)


def breaker_opened() -> None:
    emit({Metric.BREAKER_OPENED: 1})


def breaker_closed() -> None:
    emit({Metric.BREAKER_CLOSED: 1})


def parked_backlog(parked: int) -> None:
    """A gauge, emitted by the recovery execution of each open endpoint at every probe."""
    emit({Metric.PARKED_BACKLOG: parked})


def rate_limited_wait() -> None:
    """A delivery waits for its endpoint's rate limit (no attempt made)."""
    emit({Metric.RATE_LIMITED_WAITS: 1})


def reconciler_found(kind: str) -> None:
    """A fault survived: the reconciler found (and finished) what a dead execution left."""
    emit({Metric.RECONCILER_FOUND: 1}, by={"Kind": kind}, total_too=True)
