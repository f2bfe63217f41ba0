"""The reconciler in the template: on the schedule the local runtime uses too, its finds
alarmed, its run lease longer than its function may run."""

import pytest

from stacks.functions import RECONCILE
from workflows.kernel.observability import NAMESPACE, SERVICE, Metric
from workflows.recovery.reconcile import RUN_LEASE_SECONDS
from workflows.recovery.reconcile_rules import RECONCILE_EVERY_SECONDS

pytestmark = pytest.mark.infrastructure


def reconcile_function(synthesized) -> str:
    [logical_id] = [logical_id for logical_id, function in
                    synthesized.resources("AWS::Lambda::Function").items()
                    if function["Properties"].get("Handler") == RECONCILE.handler]
    return logical_id


def test_a_rule_invokes_the_reconciler_every_period_without_retries(synthesized):
    function = reconcile_function(synthesized)
    [rule] = [rule["Properties"] for rule in synthesized.resources("AWS::Events::Rule").values()
              if "ScheduleExpression" in rule["Properties"]]
    assert rule["ScheduleExpression"] == f"rate({RECONCILE_EVERY_SECONDS // 60} minutes)"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next run covers a miss
    [permission] = [p["Properties"] for p in
                    synthesized.resources("AWS::Lambda::Permission").values()
                    if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}]
    assert permission["Principal"] == "events.amazonaws.com"


def test_one_run_at_a_time_holds_while_a_run_may_last():
    assert RECONCILE.timeout.to_seconds() < RUN_LEASE_SECONDS
    assert RECONCILE.timeout.to_seconds() <= RECONCILE_EVERY_SECONDS


def test_every_find_of_the_reconciler_raises_an_alarm(synthesized):
    [alarm] = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
               if a["Properties"]["AlarmName"] == "Stepwire-ReconcilerFound"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, Metric.RECONCILER_FOUND)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
