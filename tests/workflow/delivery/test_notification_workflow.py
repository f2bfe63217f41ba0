"""The notification workflows, receiver behaviour by receiver behaviour: the fast path
(Express: the first two attempts) and the long tail (Standard: the rest of the schedule)."""

import json
import re

import pytest

from tests.support.receiver import Answer, free_port
from tests.workflow.conftest import REQUEST_TIMEOUT, Workflows
from workflows import wiring
from workflows.kernel.ids import execution_name, new_id
from workflows.kernel.models import (
    NotificationStatus,
    NotificationTarget,
    Subscription,
    SubscriptionStatus,
    utc_now,
)

pytestmark = pytest.mark.workflow

# The schedule the workflow declares: the wait after attempt N is in [low, high] seconds.
SCHEDULE = [(5, 6), (300, 360), (1800, 2160), (7200, 8640), (18000, 21600), (36000, 43200),
            (36000, 43200)]


def answers(*statuses_or_answers):
    """A receiver script that plays the given answers in order, then 200."""
    queue = [a if isinstance(a, Answer) else Answer(status=a) for a in statuses_or_answers]
    return lambda _request: queue.pop(0) if queue else Answer(status=200)


def deliver_one(flows: Workflows, path: str = "/hook"):
    subscription = flows.subscribe(path)
    event = flows.event()
    flows.publish(event)
    arn = flows.notification_arn(event["id"], subscription.id)
    return subscription, event, arn, flows.wait(arn)


def deliver_to_the_tail(flows: Workflows, path: str = "/hook", url: str | None = None):
    """A notification that fails its fast attempts: the fast execution hands off and ends; the
    long-tail execution is the one whose outcome counts."""
    subscription = flows.subscribe(path, url=url)
    event = flows.event()
    flows.publish(event)
    fast = flows.notification_arn(event["id"], subscription.id)
    assert flows.wait(fast)["status"] == "SUCCEEDED"
    assert flows.entered(fast)[-4:] == ["HandOff", "Route", "StartLongTail", "HandedOff"]
    tail = flows.long_tail_arn(event["id"], subscription.id)
    return subscription, event, fast, tail, flows.wait(tail)


def test_happy_path_one_signed_attempt(flows: Workflows) -> None:
    subscription, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    [request] = flows.receiver.wait_for("/hook", 1)
    assert request.verified, "the signature must verify with the subscription's secret"
    assert request.payload == {"id": event["id"], "type": "order.created",
                               "timestamp": request.payload["timestamp"], "data": {"order": 42}}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Stepwire/")
    _, [notification] = flows.notification(event["id"])
    assert notification.status == "delivered"
    assert notification.execution_arn == arn
    assert [a.status_code for a in notification.attempts] == [200]
    assert notification.attempts[0].error is None
    assert notification.attempts[0].execution_arn == arn
    assert not flows.long_tail_started(event["id"], subscription.id), "no Standard execution"


def test_503_then_200_retries_once_on_the_schedule(flows: Workflows) -> None:
    flows.receiver.script = answers(503)
    subscription, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    requests = flows.receiver.wait_for("/hook", 2)
    assert len({r.headers["webhook-id"] for r in requests}) == 1, "webhook-id is stable"
    assert all(r.verified for r in requests)
    [wait] = flows.state_inputs(arn, "WaitBackoff")
    low, high = SCHEDULE[0]
    assert low <= wait["wait_seconds"] <= high
    assert flows.state_inputs(arn, "WaitRetryAfter") == []
    _, [notification] = flows.notification(event["id"])
    assert [a.status_code for a in notification.attempts] == [503, 200]
    assert notification.attempts[0].error == "HTTP 503"
    assert notification.status == "delivered"
    assert not flows.long_tail_started(event["id"], subscription.id), "within the fast window"


def test_429_retry_after_is_waited_exactly(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=429, headers={"Retry-After": "30"}))
    _, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    [wait] = flows.state_inputs(arn, "WaitRetryAfter")
    assert wait["report"]["retry_after"] == 30
    assert flows.state_inputs(arn, "WaitBackoff") == []
    _, [notification] = flows.notification(event["id"])
    assert [a.status_code for a in notification.attempts] == [429, 200]


def test_retry_after_above_the_cap_is_capped_and_waited_in_the_long_tail(
        flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=503, headers={"Retry-After": "999999"}))
    _, event, fast, tail, execution = deliver_to_the_tail(flows)

    assert execution["status"] == "SUCCEEDED"
    assert flows.state_inputs(fast, "WaitRetryAfter") == []
    [wait] = flows.state_inputs(tail, "WaitRetryAfter")
    assert wait["report"]["retry_after"] == 3600
    _, [notification] = flows.notification(event["id"])
    assert [(a.status_code, a.execution_arn) for a in notification.attempts] == [
        (503, fast), (200, tail)]
    assert notification.status == "delivered" and notification.execution_arn == tail


def test_timeout_is_retried(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(delay=REQUEST_TIMEOUT * 3))
    _, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    _, [notification] = flows.notification(event["id"])
    first, second = notification.attempts
    assert first.status_code is None and "timed out" in first.error
    assert first.latency_ms >= REQUEST_TIMEOUT * 1000 * 0.9
    assert second.status_code == 200
    assert len(flows.state_inputs(arn, "WaitBackoff")) == 1


def test_still_failing_after_the_fast_window_is_handed_to_the_long_tail(
        flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(drop=True), Answer(drop=True))
    _, event, fast, tail, execution = deliver_to_the_tail(flows)

    assert execution["status"] == "SUCCEEDED"
    requests = flows.receiver.wait_for("/hook", 3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    _, [notification] = flows.notification(event["id"])
    assert [a.status_code for a in notification.attempts] == [None, None, 200]
    assert [a.execution_arn for a in notification.attempts] == [fast, fast, tail]
    assert notification.status == "delivered" and notification.execution_arn == tail
    waits = [w["wait_seconds"] for w in flows.state_inputs(fast, "WaitBackoff")
             + flows.state_inputs(tail, "WaitBackoff")]
    assert len(waits) == 2
    assert all(low <= w <= high for w, (low, high) in zip(waits, SCHEDULE, strict=False))


def test_400_fails_at_once_into_the_dead_letter_queue(flows: Workflows) -> None:
    flows.receiver.script = answers(400)
    subscription, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Permanent"
    assert len(flows.receiver.wait_for("/hook", 1)) == 1
    assert flows.state_inputs(arn, "WaitBackoff") == []
    [letter] = flows.dead_letters()
    assert letter["event_id"] == event["id"]
    assert letter["subscription_id"] == subscription.id
    assert letter["error"] == "Delivery.Permanent"
    assert letter["cause"] == "gave up after 1 attempt over 0s; last error: HTTP 400 is not retried"
    assert letter["execution_arn"] == arn
    _, [notification] = flows.notification(event["id"])
    assert notification.status == "failed"


def test_redirect_is_not_followed(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=302, headers={"Location": "http://example.com"}))
    _, _, _, execution = deliver_one(flows)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Permanent"
    assert len(flows.receiver.requests["/hook"]) == 1


def test_410_disables_the_subscription_without_retry(flows: Workflows) -> None:
    flows.receiver.script = answers(410)
    subscription, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Gone"
    assert len(flows.receiver.requests["/hook"]) == 1
    stored = wiring.store().get_subscription(flows.tenant, subscription.id)
    assert stored is not None and stored.status is SubscriptionStatus.DISABLED
    [letter] = flows.dead_letters()
    assert letter["error"] == "Delivery.Gone"
    # A disabled subscription gets no new notifications.
    later = flows.event()
    assert flows.publish(later) == {"batchItemFailures": []}
    assert flows.notification(later["id"])[1] == []
    assert len(flows.receiver.requests["/hook"]) == 1


def test_all_attempts_exhausted(flows: Workflows) -> None:
    flows.receiver.script = lambda _request: Answer(status=500)
    subscription, event, fast, arn, execution = deliver_to_the_tail(flows)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Retryable"
    assert len(flows.receiver.wait_for("/hook", 8)) == 8
    waits = [w["wait_seconds"] for w in flows.state_inputs(fast, "WaitBackoff")
             + flows.state_inputs(arn, "WaitBackoff")]
    assert len(waits) == 7
    assert all(low <= w <= high for w, (low, high) in zip(waits, SCHEDULE, strict=True))
    assert sum(waits) >= 24 * 3600, "the schedule spans at least 24 h"
    [letter] = flows.dead_letters()
    assert letter == {
        "tenant": flows.tenant, "event_id": event["id"], "subscription_id": subscription.id,
        "error": "Delivery.Retryable", "cause": letter["cause"], "execution_arn": arn,
        "failed_at": letter["failed_at"],
    }
    # It says it gave up, after how many attempts over how long, and the last error
    assert re.fullmatch(r"gave up after 8 attempts over [\d.]+s; last error: HTTP 500",
                        letter["cause"]), letter["cause"]
    _, [notification] = flows.notification(event["id"])
    assert notification.status == "failed"
    assert [a.status_code for a in notification.attempts] == [500] * 8
    assert [a.execution_arn for a in notification.attempts] == [fast] * 2 + [arn] * 6


def test_connection_refused_is_retried_to_the_end(flows: Workflows) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody"
    _, event, _, _, execution = deliver_to_the_tail(flows, url=closed)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Retryable"
    _, [notification] = flows.notification(event["id"])
    assert len(notification.attempts) == 8
    assert all("ConnectError" in a.error for a in notification.attempts)
    [letter] = flows.dead_letters()
    assert "ConnectError" in letter["cause"]


def test_forbidden_target_at_delivery_is_a_recorded_permanent_failure(flows: Workflows) -> None:
    # The address passed the check at creation; at delivery it is a link-local one (as after a
    # DNS rebinding). Link-local targets are refused even where private ones are allowed.
    subscription = flows.subscribe()
    now = utc_now()
    rebound = Subscription(**{**subscription.model_dump(), "url": "http://169.254.169.254/x",
                              "updated_at": now})
    wiring.store().put_subscription(rebound, [])
    event = flows.event()
    flows.publish(event)
    arn = flows.notification_arn(event["id"], subscription.id)
    execution = flows.wait(arn)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Permanent"
    [letter] = flows.dead_letters()
    assert "non-public address" in letter["cause"]
    _, [notification] = flows.notification(event["id"])
    assert notification.status == "failed"
    assert "non-public" in notification.attempts[0].error


def test_paused_subscription_gets_nothing_new(flows: Workflows) -> None:
    subscription = flows.subscribe()
    wiring.store().set_subscription_status(flows.tenant, subscription.id,
                                             SubscriptionStatus.PAUSED)
    event = flows.event()
    assert flows.publish(event) == {"batchItemFailures": []}

    _, notifications = flows.notification(event["id"])
    assert notifications == []


def test_a_repeated_notification_execution_delivers_once(flows: Workflows) -> None:
    # Given a delivered notification
    subscription, event, arn, execution = deliver_one(flows)
    assert execution["status"] == "SUCCEEDED"
    [target] = [n for n in flows.notification(event["id"])[1]]
    # When the service runs the same notification again, twice at once (Express runs at least
    # once, and its names are not deduplicated: here each run gets its own name)
    notification = {"tenant": flows.tenant, "event_id": event["id"],
                    "subscription_id": subscription.id, "webhook_id": target.webhook_id,
                    "execution_name": execution_name(event["id"], subscription.id)}
    machine = flows.runtime.resources.notification_state_machine_arn
    again = [flows.sfn.start_execution(stateMachineArn=machine, name=new_id("again"),
                                       input=json.dumps({"notification": notification})
                                       )["executionArn"] for _ in range(2)]
    # Then both end without a second POST, and the table still shows one delivery
    for repeat in again:
        assert flows.wait(repeat)["status"] == "SUCCEEDED"
        assert flows.entered(repeat)[-1] == "AlreadyHandled"
    assert len(flows.receiver.requests["/hook"]) == 1
    _, [stored] = flows.notification(event["id"])
    assert stored.status == "delivered" and len(stored.attempts) == 1


def test_two_runs_of_a_pending_notification_make_one_post_and_one_webhook_id(
        flows: Workflows) -> None:
    # Given a notification whose first run is in flight (the receiver is slow)
    flows.receiver.script = lambda _request: Answer(status=200, delay=REQUEST_TIMEOUT / 2)
    subscription, event, arn, execution = deliver_one(flows)
    assert execution["status"] == "SUCCEEDED"
    wiring.store().set_notification_status(
        next(iter(_targets(flows, event["id"]))), NotificationStatus.PENDING)
    flows.receiver.requests.clear()
    # When two executions of it start at once
    machine = flows.runtime.resources.notification_state_machine_arn
    [target] = _targets(flows, event["id"])
    runs = [flows.sfn.start_execution(
        stateMachineArn=machine, name=new_id("dup"),
        input=json.dumps({"notification": target.model_dump(mode="json")}))["executionArn"]
        for _ in range(2)]
    # Then one POSTs and the other stands down
    endings = sorted(flows.entered(run)[-1] for run in runs if flows.wait(run))
    assert endings == ["AlreadyHandled", "Delivered"]
    [request] = flows.receiver.wait_for("/hook", 1)
    assert request.headers["webhook-id"] == target.webhook_id


def test_a_repeated_hand_off_starts_one_long_tail(flows: Workflows) -> None:
    # Given a notification handed to the long tail
    flows.receiver.script = answers(500, 500)
    subscription, event, fast, tail, execution = deliver_to_the_tail(flows)
    assert execution["status"] == "SUCCEEDED"
    # When its fast execution's run is repeated with the same name and still fails
    flows.receiver.script = answers(500, 500)
    wiring.store().set_notification_status(next(iter(_targets(flows, event["id"]))),
                                             NotificationStatus.PENDING)
    machine = flows.runtime.resources.notification_state_machine_arn
    [target] = _targets(flows, event["id"])
    repeat = flows.sfn.start_execution(
        stateMachineArn=machine, name=new_id("repeat"),
        input=json.dumps({"notification": target.model_dump(mode="json")}))["executionArn"]
    # Then its hand-off finds the long-tail execution already started
    assert flows.wait(repeat)["status"] == "SUCCEEDED"
    assert flows.entered(repeat)[-2:] == ["StartLongTail", "AlreadyHandled"]


def _targets(flows: Workflows, event_id: str) -> list[NotificationTarget]:
    _, notifications = flows.notification(event_id)
    return [NotificationTarget(tenant=n.tenant, event_id=n.event_id,
                               subscription_id=n.subscription_id, webhook_id=n.webhook_id,
                               execution_name=execution_name(n.event_id, n.subscription_id))
            for n in notifications]
