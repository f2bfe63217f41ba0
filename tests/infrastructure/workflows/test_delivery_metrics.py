"""The dashboard and alarms read the metrics the handlers emit (namespace Stepwire)."""

import pytest

from stacks.constants import (
    DELIVERY_SUCCESS_RATE_MIN_PERCENT,
    END_TO_END_P99_MAX_MS,
    PARKED_BACKLOG_GROWTH,
)
from workflows.kernel.observability import NAMESPACE, SERVICE, Metric, Outcome

pytestmark = pytest.mark.infrastructure


def alarms(synthesized) -> dict[str, dict]:
    return {a["Properties"]["AlarmName"]: a["Properties"]
            for a in synthesized.resources("AWS::CloudWatch::Alarm").values()}


def stepwire_metrics(alarm: dict) -> dict[str, dict]:
    """Query id → the Stepwire metric of a metric-math alarm."""
    return {query["Id"]: query["MetricStat"]["Metric"] for query in alarm.get("Metrics", [])
            if "MetricStat" in query and query["MetricStat"]["Metric"]["Namespace"] == NAMESPACE}


def dimensions(metric: dict) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def test_success_rate_alarm_fires_below_the_threshold(synthesized):
    # Given the synthesized stack, when the success-rate alarm is read
    alarm = alarms(synthesized)["Stepwire-DeliverySuccessRateLow"]
    # Then it divides delivered by delivered + dead-lettered and fires below the threshold
    used = stepwire_metrics(alarm)
    assert {m["MetricName"] for m in used.values()} == {Metric.DELIVERED, Metric.DEAD_LETTERED}
    assert all(dimensions(m) == {"service": SERVICE} for m in used.values())
    expression = next(q["Expression"] for q in alarm["Metrics"] if "Expression" in q)
    assert expression == "100 * delivered / (delivered + dead)"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == DELIVERY_SUCCESS_RATE_MIN_PERCENT


def test_latency_breaker_and_backlog_alarms_use_the_handlers_metrics(synthesized):
    found = alarms(synthesized)
    latency = found["Stepwire-EndToEndLatencyP99High"]
    assert (latency["Namespace"], latency["MetricName"]) == (NAMESPACE, Metric.END_TO_END_LATENCY)
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == END_TO_END_P99_MAX_MS
    assert latency["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"

    breaker = found["Stepwire-BreakerOpened"]
    assert (breaker["Namespace"], breaker["MetricName"]) == (NAMESPACE, Metric.BREAKER_OPENED)
    assert breaker["Statistic"] == "Sum" and breaker["Threshold"] == 1

    backlog = found["Stepwire-ParkedBacklogGrowing"]
    [parked] = stepwire_metrics(backlog).values()
    assert parked["MetricName"] == Metric.PARKED_BACKLOG
    assert any(q.get("Expression") == "DIFF(parked)" for q in backlog["Metrics"])
    assert backlog["Threshold"] == PARKED_BACKLOG_GROWTH
    assert backlog["EvaluationPeriods"] == 3


def test_no_stepwire_metric_has_a_high_cardinality_dimension(synthesized):
    for alarm in alarms(synthesized).values():
        metrics = list(stepwire_metrics(alarm).values())
        if alarm.get("Namespace") == NAMESPACE:
            metrics.append(alarm)
        for metric in metrics:
            assert set(dimensions(metric)) <= {"service", "Outcome", "Source"}


def dashboard_text(synthesized) -> str:
    """The dashboard body without its tokens (a Fn::Join of strings and alarm ARNs)."""
    body = synthesized.only("AWS::CloudWatch::Dashboard")["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return "".join(part for part in parts if isinstance(part, str))


def test_dashboard_charts_every_delivery_metric(synthesized):
    text = dashboard_text(synthesized)
    for metric in Metric:
        assert f'"{NAMESPACE}","{metric.value}"' in text, metric
    for outcome in Outcome:
        assert f'"{Metric.ATTEMPTS.value}","Outcome","{outcome.value}"' in text, outcome
    assert "100 * delivered / (delivered + dead)" in text
