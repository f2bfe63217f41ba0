"""The notification workflow, receiver behaviour by receiver behaviour."""

import pytest

from tests.support.receiver import Answer, free_port
from tests.workflow.conftest import REQUEST_TIMEOUT, Workflows
from workflows import services
from workflows.models import Subscription, SubscriptionStatus, utc_now

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


def test_503_then_200_retries_once_on_the_schedule(flows: Workflows) -> None:
    flows.receiver.script = answers(503)
    _, event, arn, execution = deliver_one(flows)

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


def test_429_retry_after_is_waited_exactly(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=429, headers={"Retry-After": "30"}))
    _, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    [wait] = flows.state_inputs(arn, "WaitRetryAfter")
    assert wait["report"]["retry_after"] == 30
    assert flows.state_inputs(arn, "WaitBackoff") == []
    _, [notification] = flows.notification(event["id"])
    assert [a.status_code for a in notification.attempts] == [429, 200]


def test_retry_after_above_the_cap_is_capped(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=503, headers={"Retry-After": "999999"}))
    _, _, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    [wait] = flows.state_inputs(arn, "WaitRetryAfter")
    assert wait["report"]["retry_after"] == 3600


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


def test_dropped_connection_is_retried(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(drop=True), Answer(drop=True))
    _, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    _, [notification] = flows.notification(event["id"])
    assert [a.status_code for a in notification.attempts] == [None, None, 200]
    waits = [w["wait_seconds"] for w in flows.state_inputs(arn, "WaitBackoff")]
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
    assert letter["cause"] == "HTTP 400 is not retried"
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
    stored = services.store().get_subscription(flows.tenant, subscription.id)
    assert stored is not None and stored.status is SubscriptionStatus.DISABLED
    [letter] = flows.dead_letters()
    assert letter["error"] == "Delivery.Gone"
    # A disabled subscription gets no new notifications.
    later = flows.event()
    assert flows.wait(flows.publish(later))["status"] == "SUCCEEDED"
    assert flows.notification(later["id"])[1] == []
    assert len(flows.receiver.requests["/hook"]) == 1


def test_all_attempts_exhausted(flows: Workflows) -> None:
    flows.receiver.script = lambda _request: Answer(status=500)
    subscription, event, arn, execution = deliver_one(flows)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Delivery.Retryable"
    assert len(flows.receiver.wait_for("/hook", 8)) == 8
    waits = [w["wait_seconds"] for w in flows.state_inputs(arn, "WaitBackoff")]
    assert len(waits) == 7
    assert all(low <= w <= high for w, (low, high) in zip(waits, SCHEDULE, strict=True))
    assert sum(waits) >= 24 * 3600, "the schedule spans at least 24 h"
    [letter] = flows.dead_letters()
    assert letter == {
        "tenant": flows.tenant, "event_id": event["id"], "subscription_id": subscription.id,
        "error": "Delivery.Retryable", "cause": "HTTP 500", "execution_arn": arn,
        "failed_at": letter["failed_at"],
    }
    _, [notification] = flows.notification(event["id"])
    assert notification.status == "failed"
    assert [a.status_code for a in notification.attempts] == [500] * 8


def test_connection_refused_is_retried_to_the_end(flows: Workflows) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody"
    subscription = flows.subscribe(url=closed)
    event = flows.event()
    flows.publish(event)
    arn = flows.notification_arn(event["id"], subscription.id)
    execution = flows.wait(arn)

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
    services.store().put_subscription(rebound, [])
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
    services.store().set_subscription_status(flows.tenant, subscription.id,
                                             SubscriptionStatus.PAUSED)
    event = flows.event()
    ingest = flows.wait(flows.publish(event))

    assert ingest["status"] == "SUCCEEDED"
    _, notifications = flows.notification(event["id"])
    assert notifications == []
