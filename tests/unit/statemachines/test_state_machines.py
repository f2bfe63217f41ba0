"""The state machines are data: their placeholders, retry policy and schedule, checked."""

import json
import re
from pathlib import Path

import pytest

from stepwire.host.provision import STATEMACHINES_DIR, render_definition
from workflows import storage as store
from workflows.kernel.models import RecordedWait, WaitReason

pytestmark = pytest.mark.unit

PLACEHOLDERS = {
    "ingest": {"IngestFunctionArn", "NotificationStateMachineArn", "IngressDeadLetterQueueUrl"},
    "notification": {"DeliverFunctionArn", "RecordFailureFunctionArn", "TableName",
                     "DeadLetterQueueUrl", "HandOffFunctionArn", "LongTailStateMachineArn",
                     "RecoveryStateMachineArn"},
    "long-tail": {"DeliverFunctionArn", "RecordFailureFunctionArn", "TableName",
                  "DeadLetterQueueUrl", "HandOffFunctionArn", "RecoveryStateMachineArn"},
    "recovery": {"ProbeEndpointFunctionArn", "ReleaseParkedFunctionArn",
                 "RecordFailureFunctionArn", "DeadLetterQueueUrl"},
}
DELIVERING = ("notification", "long-tail")
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
        if state["Type"] == "Task":
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
def test_retryable_errors_loop_and_everything_else_dead_letters(name: str) -> None:
    deliver = load(name)["States"]["Deliver"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in deliver["Catch"]}
    assert catches == {("Delivery.Retryable",): "CountAttempt",
                       ("Delivery.BreakerOpen",): "Park",
                       ("Delivery.RateLimited",): "ReadRateLimitCause",
                       ("Delivery.AlreadyDelivered", "Delivery.HeldElsewhere"): "AlreadyHandled",
                       ("States.ALL",): "RecordFailure"}
    lambda_retry = deliver["Retry"][0]
    assert all(e.startswith("Lambda.") for e in lambda_retry["ErrorEquals"])
    assert lambda_retry["MaxAttempts"] == 3


@pytest.mark.parametrize("name", DELIVERING)
def test_the_failure_path_ends_in_fail_after_the_dead_letter_queue(name: str) -> None:
    definition = load(name)["States"]
    assert definition["RecordFailure"]["Next"] == "SendToDeadLetterQueue"
    assert definition["SendToDeadLetterQueue"]["Next"] == "Failed"
    assert definition["Failed"]["Type"] == "Fail"


@pytest.mark.parametrize("name", DELIVERING)
def test_mark_delivered_writes_the_stores_status_attribute(name: str) -> None:
    mark = load(name)["States"]["MarkDelivered"]["Parameters"]
    assert mark["ExpressionAttributeNames"]["#status"] == store.STATUS
    assert store.DELIVERED_AT in mark["UpdateExpression"]


def test_shared_states_are_identical_in_both_delivering_machines() -> None:
    fast, tail = (load(name)["States"] for name in DELIVERING)
    shared = set(fast) & set(tail)
    assert shared >= {"Deliver", "MarkDelivered", "CountAttempt", "PickBackoff", "WaitBackoff",
                      "WaitRetryAfter", "RecordFailure", "SendToDeadLetterQueue", "Failed",
                      "Park", "ParkRoute", "StartRecovery", "Parked", "ReadRateLimitCause",
                      "WaitRateLimited"}
    # ReadFailure's and ReadRateLimit's Next differ: the fast path decides, the long tail waits.
    for state in shared - {"ReadFailure", "ReadRateLimit"}:
        assert fast[state] == tail[state], state


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
    dead_letter = recovery["DeadLetterExpired"]["ItemProcessor"]["States"]
    assert dead_letter["RecordFailure"]["Next"] == "SendToDeadLetterQueue"
    assert [c.get("StringEquals") for c in recovery["Released"]["Choices"]] == [
        "more", "done", None]
    assert recovery["Released"]["Choices"][0]["Next"] == "CountBatch"
    assert recovery["CountBatch"]["Next"] == "WaitRateLimit"


def test_the_recovery_hands_over_to_a_fresh_execution_of_itself() -> None:
    recovery = load("recovery")["States"]
    # Continue-as-new (after N release batches) and a superseded recovery both end by
    # starting the execution named in the health item, of this same state machine.
    handing_over = {c["Or"][0]["StringEquals"]: c["Next"] for c in
                    recovery["Released"]["Choices"] if "Or" in c}
    assert handing_over == {"continue": "ContinueAsNew"}
    assert {c["StringEquals"] for c in recovery["Released"]["Choices"][2]["Or"]} == {
        "continue", "superseded"}
    after_probe = {c["StringEquals"]: c["Next"] for c in recovery["AfterProbe"]["Choices"]}
    assert after_probe["superseded"] == "Superseded"
    assert after_probe["done"] == "Recovered"
    assert recovery["ContinueAsNew"]["Next"] == recovery["Superseded"]["Next"] == "HandOver"
    start = recovery["HandOver"]["Parameters"]
    assert start["StateMachineArn.$"] == "$$.StateMachine.Id"
    assert start["Name.$"] == "$.successor"
    # The same input as every other start of a recovery: a repeat start of a running one is a
    # no-op.
    assert start["Input"] == {"endpoint": {"tenant.$": "$.endpoint.tenant",
                                           "subscription_id.$": "$.endpoint.subscription_id"}}
    assert recovery["HandOver"]["Next"] == "HandedOver"
    assert recovery["HandedOver"]["Type"] == "Succeed"
    # The batch count survives every rebuild of the state.
    for state in ("Init", "CountProbe", "ProbeAgain", "CountBatch"):
        assert "batches" in recovery[state]["Parameters"] or \
            "batches.$" in recovery[state]["Parameters"], state
    assert recovery["Release"]["Parameters"]["Payload"]["batches.$"] == "$.batches"


def test_files_are_where_the_runtime_and_the_stack_read_them() -> None:
    assert {p.name for p in Path(STATEMACHINES_DIR).glob("*.asl.json")} == {
        "ingest.asl.json", "notification.asl.json", "long-tail.asl.json", "recovery.asl.json"}


def test_a_refused_event_goes_to_the_ingress_dead_letter_queue_then_the_run_ends() -> None:
    ingest = load("ingest")["States"]
    assert ingest["Verdict"]["Default"] == "RejectEvent"
    reject = ingest["RejectEvent"]
    assert reject["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert reject["Parameters"]["QueueUrl"] == "${IngressDeadLetterQueueUrl}"
    body = reject["Parameters"]["MessageBody"]
    assert body["event.$"] == "$$.Execution.Input"  # as received, not as parsed
    assert {"error", "cause.$", "refused_at.$", "execution_arn.$"} <= set(body)
    assert ingest[reject["Next"]]["Type"] == "Succeed"
    [catch] = reject["Catch"]
    assert ingest[catch["Next"]] == {**ingest[catch["Next"]], "Type": "Fail",
                                     "Error": "Event.Invalid", "CausePath": "$.reason"}


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
        assert parameters["Key.$"] == "$.report.key"  # the Deliver task's, as MarkDelivered's
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
