"""The state machines are data: their placeholders, retry policy and schedule, checked."""

import json
import re
from pathlib import Path

import pytest

from stepwire.host.provision import STATEMACHINES_DIR, render_definition
from workflows import storage as store
from workflows.delivery.failure import caused_by_receiver
from workflows.kernel.errors import StepwireError
from workflows.kernel.models import DeadLetter, RecordedWait, WaitReason
from workflows.recovery.outcomes import (
    EVENTS_PER_LOOP_AT_MOST,
    HISTORY_EVENTS_LIMIT,
    LOOPS_PER_EXECUTION,
)
from workflows.storage.reconciler import QUEUED_AT  # what the reconciler reads

pytestmark = pytest.mark.unit

PLACEHOLDERS = {
    "ingest": {"IngestFunctionArn"},
    "notification": {"DeliverFunctionArn", "RecordFailureFunctionArn", "TableName",
                     "DeadLetterQueueUrl", "HandOffFunctionArn", "LongTailStateMachineArn",
                     "RecoveryStateMachineArn"},
    "long-tail": {"DeliverFunctionArn", "RecordFailureFunctionArn", "TableName",
                  "DeadLetterQueueUrl", "HandOffFunctionArn", "RecoveryStateMachineArn"},
    "recovery": {"ProbeEndpointFunctionArn", "ReleaseParkedFunctionArn"},
}
DELIVERING = ("notification", "long-tail")
# Stepwire's own faults around the Deliver task: Lambda refused, failed or timed out the
# invocation, or an AWS call inside it failed.
STEPWIRE_FAULTS = {"Lambda.ServiceException", "Lambda.AWSLambdaException",
                   "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
                   "Lambda.Unknown", "States.Timeout", "Stepwire.AwsFault"}
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def load(name: str) -> dict:
    return json.loads((STATEMACHINES_DIR / f"{name}.asl.json").read_text())


def states(definition: dict) -> dict:
    """All states, those of Map item processors included."""
    found = dict(definition["States"])
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            found.update(states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_placeholders_are_exactly_what_the_runtime_fills(name: str) -> None:
    text = (STATEMACHINES_DIR / f"{name}.asl.json").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == PLACEHOLDERS[name]
    rendered = render_definition(name, {p: f"value-of-{p}" for p in PLACEHOLDERS[name]})
    assert "${" not in rendered
    json.loads(rendered)
    with pytest.raises(KeyError, match="needs values for"):
        render_definition(name, {})


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_every_task_retries_transient_failures(name: str) -> None:
    for state_name, state in states(load(name)).items():
        # The fast path's Deliver hands Stepwire's faults to the long tail at once (a retry
        # there could pass Express's 5 minutes; test_express_duration.py).
        if state["Type"] == "Task" and (name, state_name) != ("notification", "Deliver"):
            assert state.get("Retry"), f"{name}.{state_name} has no Retry"


def _schedule(name: str) -> tuple[list[int], list[int]]:
    expression = load(name)["States"]["PickBackoff"]["Parameters"]["wait_seconds.$"]
    low, high = (list(map(int, a.split(","))) for a in re.findall(r"States\.Array\(([^)]*)\)",
                                                                  expression))
    return low, high


def test_schedule_is_eight_attempts_over_at_least_24_hours_with_jitter() -> None:
    low, high = _schedule("long-tail")
    assert low == SCHEDULE  # the contract's schedule
    assert all(h == int(lo * 1.2) for lo, h in zip(low, high, strict=True))  # up to +20%
    assert sum(low) >= 24 * 3600
    definition = load("long-tail")["States"]
    [limit] = [c for c in definition["AttemptsLeft"]["Choices"]
               if c.get("Variable") == "$.attempt"]
    assert limit["NumericGreaterThanEquals"] == len(low) + 1 == 8


def test_both_paths_share_one_schedule_and_the_fast_one_fits_in_express() -> None:
    assert _schedule("notification") == _schedule("long-tail")
    fast = load("notification")["States"]["FastAttemptsLeft"]["Choices"]
    [limit] = [c for c in fast if c.get("Variable") == "$.attempt"]
    fast_attempts = limit["NumericGreaterThanEquals"]
    [short] = [c for c in fast if "And" in c]
    longest_retry_after = short["And"][1]["NumericLessThanEquals"]
    # Waits and attempts (each at most the Deliver task's timeout) within Express's 5 minutes.
    deliver_timeout = load("notification")["States"]["Deliver"]["TimeoutSeconds"]
    waits = max(SCHEDULE[0] * 1.2, longest_retry_after) * (fast_attempts - 1)
    # Rate-limited waits stay in the fast path only while they end this early in the run.
    [rate_limited] = load("notification")["States"]["RateLimitWaitFits"]["Choices"]
    rate_limited_until = rate_limited["NumericLessThanEquals"]
    assert rate_limited["Variable"] == "$.report.ends_after_seconds"
    assert rate_limited_until + waits + fast_attempts * deliver_timeout < 300
    assert fast_attempts == 2


@pytest.mark.parametrize("name", DELIVERING)
def test_the_receivers_errors_loop_or_dead_letter_and_stepwires_faults_never_do(
        name: str) -> None:
    deliver = load(name)["States"]["Deliver"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in deliver["Catch"]}
    assert catches == {("Delivery.Retryable",): "CountAttempt",
                       ("Delivery.BreakerOpen",): "Park",
                       ("Delivery.RateLimited",): "ReadRateLimitCause",
                       ("Delivery.AlreadyDelivered", "Delivery.HeldElsewhere"): "AlreadyHandled",
                       ("Delivery.Permanent", "Delivery.Gone"): "RecordFailure",
                       ("States.ALL",): "StepwireFault"}
    assert deliver["Catch"][-1]["ErrorEquals"] == ["States.ALL"]  # only after every name
    # Every Delivery.* error the task raises is caught by its name, never by States.ALL.
    named = {e for c in deliver["Catch"] for e in c["ErrorEquals"]}
    assert delivery_error_names() <= named
    # In the long tail AWS's and Lambda's faults are retried briefly (not States.TaskFailed:
    # it would retry the receiver's Delivery.* verdicts too); the fast path sends them to the
    # long tail at once.
    if name == "notification":
        assert "Retry" not in deliver
        return
    [retry] = deliver["Retry"]
    assert set(retry["ErrorEquals"]) == STEPWIRE_FAULTS
    assert retry["MaxAttempts"] == 2


def delivery_error_names() -> set[str]:
    found, classes = set(), list(StepwireError.__subclasses__())
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if cls.error_name.startswith("Delivery."):
            found.add(cls.error_name)
    return found


def test_the_receivers_errors_are_named_delivery_and_nothing_else_is() -> None:
    # The long tail's AttemptsLeft and RecordFailure's cause tell them apart by that name.
    assert delivery_error_names() >= {"Delivery.Retryable", "Delivery.Permanent"}
    assert all(caused_by_receiver(name) for name in delivery_error_names())
    assert not any(caused_by_receiver(name) for name in STEPWIRE_FAULTS)
    rule = load("long-tail")["States"]["AttemptsLeft"]["Choices"][1]
    assert rule["And"][1] == {"Not": {"Variable": "$.failure.Error",
                                      "StringMatches": "Delivery.*"}}
    assert rule["Next"] == "StepwireFault"


@pytest.mark.parametrize("name", DELIVERING)
def test_only_the_receiver_and_the_end_of_the_window_lead_to_the_dead_letters(
        name: str) -> None:
    definition = load(name)["States"]
    into = {(other, tuple(c["ErrorEquals"])) for other, state in definition.items()
            for c in state.get("Catch", []) if c["Next"] == "RecordFailure"}
    assert into == {("Deliver", ("Delivery.Permanent", "Delivery.Gone"))}
    by_choice = {other for other, state in definition.items() if state["Type"] == "Choice"
                 and "RecordFailure" in _nexts(state)}
    assert by_choice == (set() if name == "notification" else {"AttemptsLeft",
                                                                "FaultWindowLeft"})
    # StartLongTail and StartRecovery, throttled past their retries, never dead-letter
    for state in ("StartLongTail", "StartRecovery", "HandOff", "Park", "Route"):
        if state in definition:
            assert "RecordFailure" not in _nexts(definition[state]), state


@pytest.mark.parametrize("name", DELIVERING)
def test_the_failure_path_queues_the_letter_marks_it_queued_and_ends_in_fail(
        name: str) -> None:
    definition = load(name)["States"]
    record, send, mark = (definition[s] for s in ("RecordFailure", "SendToDeadLetterQueue",
                                                  "MarkQueued"))
    assert (record["Next"], send["Next"], mark["Next"]) == (
        "SendToDeadLetterQueue", "MarkQueued", "Failed")
    # The DLQ message is the dead letter, field for field; the row's key rides beside it
    assert set(record["ResultSelector"]["dead_letter"]) == {
        f"{field}.$" for field in DeadLetter.model_fields}
    assert record["ResultSelector"]["key.$"] == "$.Payload.dead_letter_key"
    assert send["Parameters"]["MessageBody.$"] == "$.dead_letter"
    assert mark["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert mark["Parameters"]["Key.$"] == "$.key"
    assert mark["Parameters"]["UpdateExpression"] == f"SET {QUEUED_AT} = :at"
    assert mark["Parameters"]["ExpressionAttributeValues"][":at"] == {
        "S.$": "$$.State.EnteredTime"}
    # The letter not queued (or not marked): the run ends; the reconciler sends it
    assert [c["Next"] for c in send["Catch"]] == [c["Next"] for c in mark["Catch"]] == [
        "Failed"]
    assert definition["Failed"] == {**definition["Failed"], "Type": "Fail",
                                    "ErrorPath": "$.dead_letter.error",
                                    "CausePath": "$.dead_letter.cause"}


@pytest.mark.parametrize("name", DELIVERING)
def test_bookkeeping_that_aws_keeps_failing_leaves_the_notification_to_the_reconciler(
        name: str) -> None:
    definition = load(name)["States"]
    unfinished = definition["Unfinished"]
    assert (unfinished["Type"], unfinished["Error"]) == ("Fail", "Stepwire.Unfinished")
    left = {"RecordFailure"} | ({"HandOff", "StartLongTail", "Park", "StartRecovery"}
                                if name == "notification" else set())
    for state in left:
        assert definition[state]["Catch"][-1] == {**definition[state]["Catch"][-1],
                                                  "ErrorEquals": ["States.ALL"],
                                                  "Next": "Unfinished"}, state
    if name == "notification":
        assert definition["Route"]["Default"] == "Unfinished"
    else:  # the long tail waits Park's and StartRecovery's faults out, then delivers again
        for state in ("Park", "StartRecovery"):
            assert definition[state]["Catch"][-1]["Next"] == "StepwireFault", state


@pytest.mark.parametrize("name", DELIVERING)
def test_the_deliver_task_itself_marks_the_notification_delivered(name: str) -> None:
    definition = load(name)["States"]
    assert definition[definition["Deliver"]["Next"]]["Type"] == "Succeed"
    assert not [s for s, state in definition.items()
                if state.get("Resource", "").startswith("arn:aws:states:::dynamodb")
                and store.STATUS in json.dumps(state)], "no state writes the status"


def test_a_fault_in_the_fast_path_goes_to_the_long_tail_with_its_fault_counters() -> None:
    fast = load("notification")["States"]
    assert fast["StepwireFault"]["Next"] == "HandOff"
    assert fast["Init"]["Parameters"]["faults"] == {"count": 0, "waited_seconds": 0}
    assert fast["HandOff"]["ResultSelector"]["window_seconds.$"] == "$.Payload.window_seconds"
    handed = fast["StartLongTail"]["Parameters"]["Input"]
    assert handed["faults"] == {"count": 0, "waited_seconds": 0,
                                "window_seconds.$": "$.handoff.window_seconds"}
    assert {"notification.$", "attempt.$", "failure.$", "report.$"} <= set(handed)
    # Every state that rebuilds the data keeps the counters
    for name in DELIVERING:
        for state_name, state in load(name)["States"].items():
            parameters = state.get("Parameters", {})
            if state["Type"] == "Pass" and "notification.$" in parameters:
                assert "faults.$" in parameters or "faults" in parameters, (name, state_name)


def _array(expression: str, nth: int) -> list[int]:
    return [int(v) for v in re.findall(r"States\.Array\(([^)]*)\)", expression)[nth].split(",")]


def test_the_long_tail_waits_out_stepwire_faults_until_the_retry_window_ends() -> None:
    tail = load("long-tail")["States"]
    fault = tail["StepwireFault"]["Parameters"]
    # Waits of 1, 5, 15, 30 minutes, then hourly, each +0-20%; the count stops at the hourly
    low, high = _array(fault["wait_seconds.$"], 0), _array(fault["wait_seconds.$"], 1)
    assert low == [60, 300, 900, 1800, 3600, 3600]
    assert high == [int(w * 1.2) for w in low]
    assert _array(fault["faults"]["count.$"], 0) == [1, 2, 3, 4, 5, 5]
    assert _array(fault["faults"]["waited_seconds.$"], 0) == low  # nominal: never early
    # Behind N attempts: the schedule's nominal waits before the Nth
    schedule, _ = _schedule("long-tail")
    assert _array(fault["spent_seconds.$"], 0) == [0, 0] + [
        sum(schedule[:n]) for n in range(1, len(schedule) + 1)]
    assert tail["FaultWindowLeft"]["Choices"] == [{
        "Variable": "$.spent_seconds", "NumericGreaterThanEqualsPath": "$.faults.window_seconds",
        "Next": "RecordFailure"}]
    wait = tail[tail["FaultWindowLeft"]["Default"]]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == ("Wait", "$.wait_seconds",
                                                                 "Deliver")
    assert fault["attempt.$"] == "$.attempt"  # no attempt counted


def test_shared_states_are_identical_in_both_delivering_machines() -> None:
    fast, tail = (load(name)["States"] for name in DELIVERING)
    shared = set(fast) & set(tail)
    assert shared >= {"Deliver", "CountAttempt", "PickBackoff", "WaitBackoff",
                      "WaitRetryAfter", "RecordFailure", "SendToDeadLetterQueue", "MarkQueued",
                      "Failed", "Unfinished", "Park", "ParkRoute", "StartRecovery", "Parked",
                      "ReadRateLimitCause", "WaitRateLimited", "StepwireFault"}
    # ReadFailure's and ReadRateLimit's Next differ: the fast path decides, the long tail waits.
    # Stepwire's faults: the fast path hands them to the long tail, which waits them out.
    for state in shared - {"ReadFailure", "ReadRateLimit", "StepwireFault", "Park",
                           "StartRecovery", "Deliver", "RecordFailure"}:
        assert fast[state] == tail[state], state
    for state in ("Park", "StartRecovery"):
        assert {**fast[state], "Catch": [], "Comment": ""} == {
            **tail[state], "Catch": [], "Comment": ""}, state
    # Deliver: only the long tail retries Stepwire's faults in place; RecordFailure: the long
    # tail, with no 5-minute bound, retries it for about a day.
    for state in ("Deliver", "RecordFailure"):
        assert {**fast[state], "Retry": [], "Comment": ""} == {
            **tail[state], "Retry": [], "Comment": ""}, state


@pytest.mark.parametrize("name", DELIVERING)
def test_a_rate_limited_delivery_waits_and_delivers_again_without_counting_an_attempt(
        name: str) -> None:
    definition = load(name)["States"]
    for state in ("ReadRateLimitCause", "ReadRateLimit"):
        assert definition[state]["Parameters"]["attempt.$"] == "$.attempt"
    wait = definition["WaitRateLimited"]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == (
        "Wait", "$.report.wait_seconds", "Deliver")
    nexts = {definition["ReadRateLimit"]["Next"]}
    if name == "notification":
        fits = definition["RateLimitWaitFits"]
        nexts = {fits["Choices"][0]["Next"], fits["Default"]}
        assert nexts == {"WaitRateLimited", "HandOff"}
    else:  # a wait handed over from the fast path is waited first, whatever the attempt
        first = definition["AttemptsLeft"]["Choices"][0]
        assert first["And"][1] == {"Variable": "$.failure.Error",
                                   "StringEquals": "Delivery.RateLimited"}
        assert first["Next"] == "WaitRateLimited" and nexts == {"WaitRateLimited"}


def test_the_hand_off_is_one_decision_then_a_start_of_the_long_tail_or_parking() -> None:
    fast = load("notification")["States"]
    assert fast["HandOff"]["Next"] == "Route"
    assert fast["Route"]["Type"] == "Choice"
    assert {c["StringEquals"]: c["Next"] for c in fast["Route"]["Choices"]} == {
        "long_tail": "StartLongTail", "park": "StartRecovery"}
    start = fast["StartLongTail"]
    assert start["Resource"] == "arn:aws:states:::states:startExecution"  # no .sync in Express
    assert start["Parameters"]["StateMachineArn"] == "${LongTailStateMachineArn}"
    assert start["Parameters"]["Name.$"] == "$.handoff.execution_name"
    assert load("long-tail")["StartAt"] == "AttemptsLeft"


@pytest.mark.parametrize("name", DELIVERING)
def test_parking_starts_the_endpoints_one_recovery_with_the_same_input_each_time(
        name: str) -> None:
    definition = load(name)["States"]
    assert definition["ParkRoute"]["Choices"] == [
        {"Variable": "$.handoff.route", "StringEquals": "park", "Next": "StartRecovery"}]
    assert definition["ParkRoute"]["Default"] == "Deliver"  # the breaker closed meanwhile
    start = definition["StartRecovery"]["Parameters"]
    assert start["StateMachineArn"] == "${RecoveryStateMachineArn}"
    # A Standard start with a running name is idempotent only with identical input: nothing
    # execution-specific in it.
    assert start["Input"] == {"endpoint": {"tenant.$": "$.notification.tenant",
                                           "subscription_id.$": "$.notification.subscription_id"}}
    assert definition["StartRecovery"]["Next"] == "Parked"


def test_the_recovery_declares_its_probe_schedule_and_releases_once_a_second() -> None:
    recovery = load("recovery")["States"]
    waits = recovery["Probe"]["Parameters"]["Payload"]["probe_waits.$"]
    assert waits == "States.Array(5, 30, 120, 300, 900, 1800, 3600)"
    assert recovery["WaitRateLimit"]["Seconds"] == 1
    assert recovery["WaitRateLimit"]["Next"] == "Release"
    # Expired notifications are dead-lettered inside the Probe task, in batches: no Map of a
    # Task per notification (about 12 history events each).
    assert not [state for state in recovery.values() if state["Type"] == "Map"]
    assert [c.get("StringEquals") for c in recovery["Released"]["Choices"]] == [
        "more", "done", None]
    assert recovery["Released"]["Choices"][0]["Next"] == "CountBatch"
    assert recovery["CountBatch"]["Next"] == "WaitRateLimit"


def test_the_recovery_hands_over_to_a_fresh_execution_of_itself() -> None:
    recovery = load("recovery")["States"]
    # Continue-as-new (after N release batches or loops) and a superseded recovery both end by
    # starting the execution named in the health item, of this same state machine, whichever
    # task found out.
    handing_over = {c["Or"][0]["StringEquals"]: c["Next"] for c in
                    recovery["Released"]["Choices"] if "Or" in c}
    assert handing_over == {"continue": "ReleaseHandsOver"}
    assert {c["StringEquals"] for c in recovery["Released"]["Choices"][2]["Or"]} == {
        "continue", "superseded"}
    [probe_hands_over] = [c for c in recovery["AfterProbe"]["Choices"] if "Or" in c]
    assert {c["StringEquals"] for c in probe_hands_over["Or"]} == {"continue", "superseded"}
    assert probe_hands_over["Next"] == "ProbeHandsOver"
    after_probe = {c["StringEquals"]: c["Next"] for c in recovery["AfterProbe"]["Choices"]
                   if "StringEquals" in c}
    assert after_probe["done"] == "Recovered"
    assert recovery["ProbeHandsOver"]["Parameters"]["successor.$"] == "$.probe.successor"
    assert recovery["ReleaseHandsOver"]["Parameters"]["successor.$"] == "$.release.successor"
    assert recovery["ProbeHandsOver"]["Next"] == recovery["ReleaseHandsOver"]["Next"] == \
        "HandOver"
    start = recovery["HandOver"]["Parameters"]
    assert start["StateMachineArn.$"] == "$$.StateMachine.Id"
    assert start["Name.$"] == "$.successor"
    # The same input as every other start of a recovery: a repeat start of a running one is a
    # no-op.
    assert start["Input"] == {"endpoint": {"tenant.$": "$.endpoint.tenant",
                                           "subscription_id.$": "$.endpoint.subscription_id"}}
    assert recovery["HandOver"]["Next"] == "HandedOver"
    assert recovery["HandedOver"]["Type"] == "Succeed"
    # The counts survive every rebuild of the state, and reach the tasks that decide.
    for state, values in recovery.items():
        if state != "Init" and "endpoint.$" in values.get("Parameters", {}):
            assert {"probes.$", "batches.$", "loops.$"} <= set(values["Parameters"]) or \
                {"probes", "batches.$", "loops.$"} <= set(values["Parameters"]), state
    assert recovery["Release"]["Parameters"]["Payload"]["batches.$"] == "$.batches"
    assert recovery["Release"]["Parameters"]["Payload"]["loops.$"] == "$.loops"
    assert recovery["Probe"]["Parameters"]["Payload"]["loops.$"] == "$.loops"


def _next_states(state: dict) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [c["Next"] for c in state.get("Catch", [])]
    found += [c["Next"] for c in state.get("Choices", [])]
    return found + ([state["Default"]] if "Default" in state else [])


def test_every_loop_of_the_recovery_is_counted_toward_continue_as_new() -> None:
    # Given the recovery's states without those that add one to `loops`
    recovery = load("recovery")["States"]
    uncounted = {name: state for name, state in recovery.items()
                 if state.get("Parameters", {}).get("loops.$") != "States.MathAdd($.loops, 1)"}

    # When their transitions are searched for a cycle
    def cycle_from(name: str, path: list[str]) -> list[str] | None:
        for successor in _next_states(uncounted[name]):
            if successor in path:
                return [*path, successor]
            if successor in uncounted:
                found = cycle_from(successor, [*path, successor])
                if found:
                    return found
        return None

    # Then there is none: every loop passes a counting state
    assert [cycle_from(name, [name]) for name in uncounted] == [None] * len(uncounted)
    assert {"CountProbe", "CountExpiring", "CountError", "CountBatch", "ProbeAgain"} <= (
        set(recovery) - set(uncounted))
    # and a loop (through one task, or a failed hand-over through two, counted twice) stays
    # within the events per loop that the 600-loop bound assumes
    assert recovery["Probe"]["Retry"][0]["MaxAttempts"] == 6
    assert 5 + 3 * 6 + 2 + 2 + 2 == EVENTS_PER_LOOP_AT_MOST
    assert LOOPS_PER_EXECUTION * EVENTS_PER_LOOP_AT_MOST <= 0.7 * HISTORY_EVENTS_LIMIT


def test_files_are_where_the_runtime_and_the_stack_read_them() -> None:
    assert {p.name for p in Path(STATEMACHINES_DIR).glob("*.asl.json")} == {
        "ingest.asl.json", "notification.asl.json", "long-tail.asl.json", "recovery.asl.json"}


def test_the_ingest_walks_its_pages_and_leaves_a_failing_one_to_the_reconciler() -> None:
    ingest = load("ingest")["States"]
    assert ingest["FanOutPage"]["Next"] == "MorePages"
    assert ingest["MorePages"]["Choices"] == [
        {"Variable": "$.done", "BooleanEquals": False, "Next": "FanOutPage"}]
    assert ingest[ingest["MorePages"]["Default"]]["Type"] == "Succeed"
    [catch] = ingest["FanOutPage"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert ingest[catch["Next"]]["Type"] == "Fail"


def _nexts(state: dict) -> set[str]:
    found = {state.get("Next"), state.get("Default")}
    found |= {c.get("Next") for c in state.get("Choices", []) + state.get("Catch", [])}
    return found - {None}


@pytest.mark.parametrize("name", DELIVERING)
def test_each_retry_wait_first_records_when_the_next_attempt_is_due(name: str) -> None:
    definition = load(name)["States"]
    for record, wait, reason in (("RecordBackoff", "WaitBackoff", "backoff"),
                                 ("RecordRetryAfter", "WaitRetryAfter", "retry_after")):
        state = definition[record]
        # Informative only: a failed write never holds the wait back
        assert state["Next"] == wait and [c["Next"] for c in state["Catch"]] == [wait]
        parameters = state["Parameters"]
        assert parameters["Key.$"] == "$.report.key"  # from the Deliver task's error report
        assert parameters["UpdateExpression"] == f"SET {store.NEXT_ATTEMPT} = :next"
        written = parameters["ExpressionAttributeValues"][":next"]["M"]
        assert set(written) == set(RecordedWait.model_fields)
        assert written["reason"] == {"S": WaitReason(reason).value}
        assert written["decided_at"] == {"S.$": "$$.State.EnteredTime"}
        # Exactly the seconds the Wait then waits
        assert written["wait_seconds"] == {
            "N.$": f"States.Format('{{}}', {definition[wait]['SecondsPath']})"}
        # Nothing reaches the wait without passing through its record
        assert {other for other, s in definition.items() if wait in _nexts(s)} == {record}
