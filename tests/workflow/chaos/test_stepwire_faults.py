"""Stepwire's faults are not the receiver's (issue 20): AWS failing around or inside the Deliver
task never counts an attempt, never opens the breaker, never dead-letters while the retry window
lasts; nothing after a 2xx turns a notification failed; bookkeeping that AWS keeps failing ends
the run with the notification left for the reconciler, never failed."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.receiver import Answer
from tests.workflow.chaos.aimed import AimedFault, calling, current_task
from tests.workflow.conftest import Workflows
from workflows import wiring
from workflows.delivery.breaker import BreakerState
from workflows.kernel.models import NotificationStatus

pytestmark = pytest.mark.workflow

FOREVER = 10**6
DELIVERING = ("notification", "long-tail")


def in_task(flows: Workflows, state: str, machines: tuple[str, ...] = DELIVERING
            ) -> Callable[[], bool]:
    resources = flows.runtime.resources
    assert resources is not None
    wanted = {(resources.state_machine_arns[m], state) for m in machines}
    return lambda: current_task() in wanted


def publish_one(flows: Workflows) -> tuple[str, str]:
    subscription = flows.subscribe()
    event = flows.event()
    flows.publish(event)
    return event["id"], subscription.id


def errors_in(flows: Workflows, arn: str) -> set[str]:
    return {details["error"] for event in flows.history(arn) for name, details in event.items()
            if name.endswith("EventDetails") and isinstance(details, dict)
            and "error" in details}


def row(flows: Workflows, event_id: str) -> Any:
    _, [notification] = flows.notification(event_id)
    return notification


def dead_letter_rows(flows: Workflows) -> list[dict[str, Any]]:
    items, _ = wiring.store().dead_letters_page(flows.tenant, since="0", page_size=10,
                                                after=None)
    return items


def test_lambda_failing_deliver_past_the_fast_path_is_delivered_by_the_long_tail(
        flows: Workflows, aim_faults: Callable[..., None]) -> None:
    # Given Lambda failing the Deliver task (Lambda.Unknown) 4 times in a row: the fast path's
    # one try (it hands Stepwire's faults on at once), then, after the long tail's first wait,
    # its 3 tries; the try after its second wait goes through
    fault = AimedFault("lambda", "Invoke", 500, "Unknown", times=4,
                       aimed=in_task(flows, "Deliver"))
    aim_faults(fault)

    # When an event is published to a receiver that always answers 200
    event_id, subscription_id = publish_one(flows)
    fast = flows.notification_arn(event_id, subscription_id)
    assert flows.wait(fast)["status"] == "SUCCEEDED"
    tail = flows.long_tail_arn(event_id, subscription_id)

    # Then the fast path handed it to the long tail as Stepwire's fault, and the tail
    # delivered it once AWS answered again
    assert flows.wait(tail)["status"] == "SUCCEEDED"
    assert fault.fired == 4
    assert "Lambda.Unknown" in errors_in(flows, fast) & errors_in(flows, tail)
    assert flows.entered(fast)[-5:] == ["StepwireFault", "HandOff", "Route", "StartLongTail",
                                        "HandedOff"]
    waits = flows.state_inputs(tail, "WaitAfterFault")
    assert [(w["faults"]["count"], w["attempt"]) for w in waits] == [(1, 0), (2, 0)]
    assert 60 <= waits[0]["wait_seconds"] <= 72 and 300 <= waits[1]["wait_seconds"] <= 360
    # No attempt counted for the faults, the breaker untouched, one POST, no dead letter
    assert "CountAttempt" not in flows.entered(fast) + flows.entered(tail)
    notification = row(flows, event_id)
    assert notification.status is NotificationStatus.DELIVERED
    assert [a.status_code for a in notification.attempts] == [200]
    health = wiring.store().endpoint_health(flows.tenant, subscription_id)
    assert (health.breaker, health.failure_streak) == (BreakerState.CLOSED, 0)
    [request] = flows.receiver.requests["/hook"]
    assert request.verified
    assert flows.dead_letters() == []


def test_a_throttled_delivered_write_after_a_2xx_never_fails_the_notification(
        flows: Workflows, aim_faults: Callable[..., None]) -> None:
    # Given DynamoDB throttling the write that records a 2xx, for the fast path's 3 tries
    def before_the_fourth_post() -> bool:
        return calling("mark_delivered") and len(flows.receiver.requests.get("/hook", [])) <= 3

    fault = AimedFault("dynamodb", "UpdateItem", 400, "ProvisionedThroughputExceededException",
                       times=FOREVER, aimed=before_the_fourth_post)
    aim_faults(fault)

    # When an event is published to a receiver that always answers 200
    event_id, subscription_id = publish_one(flows)
    fast = flows.notification_arn(event_id, subscription_id)
    assert flows.wait(fast)["status"] == "SUCCEEDED"
    assert flows.wait(flows.long_tail_arn(event_id, subscription_id))["status"] == "SUCCEEDED"

    # Then it was posted again (at least once, the same webhook-id) and ends delivered, with
    # the one attempt that was recorded; never failed, never dead-lettered
    assert "Stepwire.AwsFault" in errors_in(flows, fast)
    requests = flows.receiver.requests["/hook"]
    assert len(requests) == 4 and all(r.verified for r in requests)
    assert {r.headers["webhook-id"] for r in requests} == {requests[0].headers["webhook-id"]}
    notification = row(flows, event_id)
    assert notification.status is NotificationStatus.DELIVERED
    assert [a.status_code for a in notification.attempts] == [200]
    assert flows.dead_letters() == [] and dead_letter_rows(flows) == []


def test_only_the_end_of_the_retry_window_dead_letters_stepwires_fault_and_says_so(
        flows: Workflows, settings: Callable[..., None],
        aim_faults: Callable[..., None]) -> None:
    # Given a retry window of 2 h and Lambda failing the Deliver task for ever
    settings(retry_window_seconds=7200)
    aim_faults(AimedFault("lambda", "Invoke", 500, "Unknown", times=FOREVER,
                          aimed=in_task(flows, "Deliver")))

    # When an event is published
    event_id, subscription_id = publish_one(flows)
    flows.wait(flows.notification_arn(event_id, subscription_id))
    tail = flows.long_tail_arn(event_id, subscription_id)
    ended = flows.wait(tail)

    # Then the long tail waited 1, 5, 15, 30 min, then hourly, until the waits filled the
    # window, and only then dead-lettered it, blaming Stepwire, with no attempt made
    assert ended["status"] == "FAILED"
    waits = flows.state_inputs(tail, "WaitAfterFault")
    nominal = [60, 300, 900, 1800, 3600, 3600]
    assert [w["faults"]["waited_seconds"] for w in waits] == [
        sum(nominal[:n + 1]) for n in range(len(nominal))]
    assert sum(nominal[:-1]) < 7200 <= sum(nominal)
    [letter] = flows.dead_letters()
    assert letter["error"] == "Lambda.Unknown"
    assert letter["cause"].startswith("Stepwire's fault, not the receiver's: Lambda.Unknown "
                                      "kept it from the receiver until the retry window's end; "
                                      "gave up before any attempt")
    assert row(flows, event_id).status is NotificationStatus.FAILED
    assert flows.receiver.requests == {}
    [kept] = dead_letter_rows(flows)
    assert "queued_at" in kept  # MarkQueued: on the queue, the reconciler leaves it alone


@pytest.mark.parametrize(("state", "service", "operation", "code", "answers"), [
    ("HandOff", "lambda", "Invoke", "TooManyRequestsException", (503, 503)),
    ("StartLongTail", "stepfunctions", "StartExecution", "Throttling", (503, 503)),
    ("RecordFailure", "lambda", "Invoke", "ServiceException", (400,)),
])
def test_bookkeeping_aws_keeps_failing_ends_the_run_leaving_it_to_the_reconciler(
        flows: Workflows, aim_faults: Callable[..., None], state: str, service: str,
        operation: str, code: str, answers: tuple[int, ...]) -> None:
    # Given a fast-path task that AWS keeps failing
    status = 429 if code == "TooManyRequestsException" else 400 if service != "lambda" else 500
    fault = AimedFault(service, operation, status, code, times=FOREVER,
                       aimed=in_task(flows, state, ("notification",)))
    aim_faults(fault)
    queue = [Answer(status=s) for s in answers]
    flows.receiver.script = lambda _request: queue.pop(0) if queue else Answer(status=200)

    # When a notification reaches it
    event_id, subscription_id = publish_one(flows)
    ended = flows.wait(flows.notification_arn(event_id, subscription_id))

    # Then the run ends Unfinished and the notification is left delivering (never failed, no
    # dead letter): the reconciler restarts it
    assert fault.fired >= 5  # the task and its 4 retries
    assert (ended["status"], ended.get("error")) == ("FAILED", "Stepwire.Unfinished")
    assert row(flows, event_id).status is NotificationStatus.DELIVERING
    assert flows.dead_letters() == [] and dead_letter_rows(flows) == []
    assert not flows.long_tail_started(event_id, subscription_id)


def test_a_dead_letter_the_queue_keeps_refusing_is_kept_failed_and_not_queued(
        flows: Workflows, aim_faults: Callable[..., None]) -> None:
    # Given SQS refusing the dead letter for good, and a receiver that answers 400
    aim_faults(AimedFault("sqs", "SendMessage", 400, "RequestThrottled", times=FOREVER,
                          aimed=in_task(flows, "SendToDeadLetterQueue", ("notification",))))
    flows.receiver.script = lambda _request: Answer(status=400)

    # When the notification fails
    event_id, subscription_id = publish_one(flows)
    ended = flows.wait(flows.notification_arn(event_id, subscription_id))

    # Then the run ends failed with the dead letter's error; the dead letter is kept without
    # queued_at (the reconciler sends it) and the queue holds nothing
    assert (ended["status"], ended.get("error")) == ("FAILED", "Delivery.Permanent")
    assert row(flows, event_id).status is NotificationStatus.FAILED
    [kept] = dead_letter_rows(flows)
    assert "queued_at" not in kept and kept["error"] == "Delivery.Permanent"
    assert flows.dead_letters() == []
    assert "MarkQueued" not in flows.entered(flows.notification_arn(event_id, subscription_id))


def test_a_queued_dead_letter_is_marked_queued(flows: Workflows) -> None:
    flows.receiver.script = lambda _request: Answer(status=400)
    event_id, subscription_id = publish_one(flows)
    arn = flows.notification_arn(event_id, subscription_id)
    assert flows.wait(arn)["status"] == "FAILED"

    [letter] = flows.dead_letters()
    [kept] = dead_letter_rows(flows)
    # The message is the dead letter as before (no key), the row says when it was queued
    assert set(letter) == {"tenant", "event_id", "subscription_id", "error", "cause",
                           "execution_arn", "failed_at"}
    assert kept["queued_at"] >= kept["failed_at"]
    assert flows.entered(arn)[-3:] == ["SendToDeadLetterQueue", "MarkQueued", "Failed"]
    assert json.loads(json.dumps(letter))["event_id"] == event_id
