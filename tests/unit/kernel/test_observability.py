"""Metric records (names, units, dimensions), their local aggregation, and tracing switches."""

import importlib
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from stepwire.emulation.cloudwatch import MetricsRecorder
from workflows.kernel import observability
from workflows.kernel.models import utc_now
from workflows.kernel.observability import NAMESPACE, SERVICE, Outcome

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
HANDLERS = ["handle_api_request", "handle_authorize_request", "handle_deliver_notification",
            "handle_ingest_event", "handle_record_failure", "handle_rotate_jwt_key",
            "handle_seed_secret_keys"]


@pytest.fixture
def records():
    captured: list[dict] = []
    observability.set_metrics_sink(captured.append)
    yield captured
    observability.set_metrics_sink(None)


def directive(record: dict) -> dict:
    [only] = record["_aws"]["CloudWatchMetrics"]
    return only


@pytest.mark.parametrize(("code", "outcome"), [
    (200, Outcome.SUCCESS), (204, Outcome.SUCCESS), (301, Outcome.REDIRECT),
    (410, Outcome.CLIENT_ERROR), (429, Outcome.CLIENT_ERROR), (503, Outcome.SERVER_ERROR),
    (None, Outcome.NO_RESPONSE), (600, Outcome.NO_RESPONSE), (101, Outcome.NO_RESPONSE)])
def test_an_attempt_is_classed_by_its_status(code, outcome):
    assert Outcome.of(code) is outcome


def test_an_attempt_is_counted_by_outcome_and_in_total_with_its_latency(records):
    # When a first attempt is answered 503 in 42 ms
    observability.attempt_made(503, 42, first=True)
    # Then one record counts it by outcome and in total, and one says the first attempt failed
    attempt, first = records
    assert directive(attempt)["Namespace"] == NAMESPACE
    assert directive(attempt)["Dimensions"] == [["service", "Outcome"], ["service"]]
    assert directive(attempt)["Metrics"] == [
        {"Name": "Attempts", "Unit": "Count"}, {"Name": "AttemptLatency", "Unit": "Milliseconds"}]
    assert attempt["service"] == SERVICE and attempt["Outcome"] == "5xx"
    assert attempt["Attempts"] == [1] and attempt["AttemptLatency"] == [42]
    assert directive(first)["Metrics"] == [{"Name": "FirstAttemptSuccess", "Unit": "Count"}]
    assert first["FirstAttemptSuccess"] == [0]


def test_a_retry_does_not_count_as_a_first_attempt(records):
    observability.attempt_made(200, 5, first=False)
    assert [directive(r)["Metrics"][0]["Name"] for r in records] == ["Attempts"]


def test_delivery_records_the_time_from_acceptance(records):
    observability.notification_delivered(utc_now() - timedelta(seconds=2))
    [record] = records
    assert record["NotificationsDelivered"] == [1]
    assert 2000 <= record["EndToEndLatency"][0] < 4000
    assert directive(record)["Dimensions"] == [["service"]]


def test_no_record_carries_a_tenant_or_an_id(records):
    observability.attempt_made(200, 1, first=True)
    observability.notification_delivered(utc_now())
    observability.notification_dead_lettered()
    observability.event_accepted("eventbridge")
    for record in records:
        for dimension_set in directive(record)["Dimensions"]:
            assert set(dimension_set) <= {"service", "Outcome", "Source"}


def test_a_failing_sink_never_fails_the_caller(records):
    def broken(_: dict) -> None:
        raise RuntimeError("disk full")

    observability.set_metrics_sink(broken)
    observability.notification_dead_lettered()  # does not raise


def test_the_recorder_sums_the_last_hour_per_minute():
    # Given a recorder fed through the sink, with a clock (records carry wall-clock time)
    now = [utc_now().timestamp()]
    recorder = MetricsRecorder(clock=lambda: now[0])
    observability.set_metrics_sink(recorder)
    try:
        for code, latency in [(200, 10), (200, 20), (503, 30), (None, 40)]:
            observability.attempt_made(code, latency, first=False)
        observability.notification_delivered(utc_now())
        observability.notification_dead_lettered()
        observability.event_accepted("api")
    finally:
        observability.set_metrics_sink(None)
    # When it is summed
    hour = recorder.summary()["hour"]
    # Then rates, counts and percentiles are those of the records
    assert hour["attempts"] == 4
    assert hour["attempts_by_outcome"] == {"2xx": 2, "5xx": 1, "no_response": 1}
    assert hour["attempt_success_rate"] == 50.0
    assert hour["delivery_success_rate"] == 50.0
    assert hour["attempt_latency_ms"] == {"p50": 20.0, "p90": 40.0, "p99": 40.0}
    assert hour["events_accepted"] == 1
    minutes = recorder.summary()["minutes"]
    assert len(minutes) == 60 and minutes[-1]["attempts"] == 4
    # And an hour later they are forgotten
    now[0] += 3601
    assert recorder.summary()["hour"]["attempts"] == 0


def emf(at: float, name: str, value: float, **dimensions: str) -> dict:
    return {"_aws": {"Timestamp": int(at * 1000), "CloudWatchMetrics": [{
        "Namespace": NAMESPACE, "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name}]}]}, name: [value], **dimensions}


def test_the_recorder_keeps_minutes_not_records_and_places_a_late_record_in_its_minute():
    # Given a recorder at the start of a minute
    now = [3_600_000.0]
    recorder = MetricsRecorder(clock=lambda: now[0])
    # When 1,000 attempts arrive in one minute, 3 in the next, then a late one for the first
    for i in range(1000):
        recorder(emf(now[0] + 1, "AttemptLatency", float(i), Outcome="2xx"))
    now[0] += 60
    for latency in (5.0, 6.0, 7.0):
        recorder(emf(now[0] + 1, "Attempts", 1, Outcome="5xx"))
        recorder(emf(now[0] + 1, "AttemptLatency", latency, Outcome="5xx"))
    recorder(emf(now[0] - 30, "Attempts", 1, Outcome="2xx"))
    # Then each minute holds its own, percentiles come from every value
    summary = recorder.summary()
    first, second = summary["minutes"][-2], summary["minutes"][-1]
    assert first["attempt_latency_ms"] == {"p50": 499.0, "p90": 899.0, "p99": 989.0}
    assert first["attempts_by_outcome"] == {"2xx": 1}
    assert second["attempts_by_outcome"] == {"5xx": 3}
    assert second["attempt_latency_ms"] == {"p50": 6.0, "p90": 7.0, "p99": 7.0}
    assert summary["hour"]["attempts"] == 4
    assert summary["hour"]["attempt_latency_ms"]["p50"] == 498.0


def test_tracing_is_off_and_unbuilt_outside_lambda(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    observability.tracer.cache_clear()
    handler = observability.traced_handler(lambda event, context: {"echo": event})
    observability.annotate(tenant="acme")
    with observability.subsegment("webhook POST", webhook_id="msg_1"):
        result = handler({"a": 1}, None)
    assert result == {"echo": {"a": 1}}
    assert observability.tracer.cache_info().currsize == 0


@pytest.mark.parametrize("name", HANDLERS)
def test_every_handler_is_traced(name):
    handler = importlib.import_module(f"lambdas.{name}").lambda_handler
    chain = []
    while handler is not None:
        chain.append(handler)
        handler = getattr(handler, "__wrapped__", None)
    assert any(getattr(f, "traced", False) for f in chain)


def test_in_lambda_the_handler_segment_carries_the_annotations_and_the_post_subsegment():
    # Given Lambda's environment and an X-Ray emitter that keeps what it would send
    script = textwrap.dedent("""
        import json, os
        os.environ.update(LAMBDA_TASK_ROOT="/var/task", AWS_LAMBDA_FUNCTION_NAME="deliver",
                          _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;"
                                           "Parent=53995c3f42cd8ad8;Sampled=1")
        from aws_xray_sdk.core import xray_recorder
        sent = []
        class Keep:
            def send_entity(self, entity): sent.append(entity.to_dict())
            def set_daemon_address(self, address): pass
        from workflows.kernel import observability
        observability.tracer()  # Powertools configures the recorder first
        xray_recorder.configure(emitter=Keep(), streaming_threshold=0)

        @observability.traced_handler
        def handler(event, context):
            observability.annotate(tenant="acme", event_id="evt_1", webhook_id="msg_1")
            with observability.subsegment("webhook POST", webhook_id="msg_1"):
                pass
            return "ok"

        assert handler({}, None) == "ok"
        print(json.dumps(sent))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # Then the handler's subsegment is annotated and the POST is its own subsegment
    sent = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    by_name = {entity["name"]: entity for entity in sent}
    handler = by_name["## handler"]
    assert handler["annotations"].items() >= {"tenant": "acme", "event_id": "evt_1",
                                              "webhook_id": "msg_1"}.items()
    assert by_name["webhook POST"]["annotations"]["webhook_id"] == "msg_1"
