"""Every state machine has an alarm on each way an execution can end that no Catch sees:
failed, timed out, aborted, and a start throttled (CloudWatch's AWS/States metrics)."""

import pytest

pytestmark = pytest.mark.infrastructure

END_METRICS = ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted",
               "ExecutionThrottled")


def alarms_by_machine(synthesized) -> dict[str, dict[str, dict]]:
    """State machine logical id → metric name → the alarm on it."""
    found: dict[str, dict[str, dict]] = {}
    for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("Namespace") != "AWS/States":
            continue
        [dimension] = properties["Dimensions"]
        assert dimension["Name"] == "StateMachineArn"
        machine = dimension["Value"]["Ref"]
        found.setdefault(machine, {})[properties["MetricName"]] = properties
    return found


def test_every_state_machine_alarms_on_failed_timed_out_aborted_and_throttled(synthesized):
    # Given the synthesized stack's four state machines
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == 4

    # When its AWS/States alarms are read per machine
    found = alarms_by_machine(synthesized)

    # Then each machine has one on every end no Catch sees, wired to the alarm topic
    topic = next(iter(synthesized.resources("AWS::SNS::Topic")))
    assert set(found) == set(machines)
    for machine, by_metric in found.items():
        assert set(END_METRICS) <= set(by_metric), machine
        for metric in END_METRICS:
            alarm = by_metric[metric]
            assert alarm["AlarmActions"] == [{"Ref": topic}], (machine, metric)
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert alarm["TreatMissingData"] == "notBreaching"
            assert alarm["Statistic"] == "Sum" and alarm["Period"] <= 900


def test_a_single_timeout_abort_or_throttle_is_alarming(synthesized):
    # A timed-out or stopped execution leaves its work to the reconciler; one is a fault.
    for machine, by_metric in alarms_by_machine(synthesized).items():
        for metric in ("ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"):
            assert by_metric[metric]["Threshold"] == 1, (machine, metric)
            assert by_metric[metric]["EvaluationPeriods"] == 1, (machine, metric)
