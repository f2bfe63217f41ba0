"""AWS's faults inside the Deliver task are Stepwire's, never the receiver's (issue 20): they
raise Stepwire.AwsFault, record no attempt, leave the breaker alone; a 2xx is recorded with the
status in one write, and nothing after it can turn the notification failed."""

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.receiver import Answer, Receiver
from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.delivery.failure import record_failure
from workflows.delivery.target_guard import TargetPolicy
from workflows.kernel.errors import AwsFault, DeliveryRetryable
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import (
    DeliveryRequest,
    Event,
    FailureReport,
    NotificationStatus,
    NotificationTarget,
    utc_now,
)
from workflows.kernel.settings import get_settings
from workflows.operations.subscriptions import NewSubscription, create_subscription
from workflows.storage import Store
from workflows.storage.items import DELIVERED_ATTEMPTS

pytestmark = pytest.mark.functional
LOCAL = TargetPolicy(allow_private=True, require_https=False)
THROTTLED = {"Error": {"Code": "ProvisionedThroughputExceededException",
                       "Message": "The level of configured provisioned throughput for the "
                                  "table was exceeded."}}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def notification(store: Store, receiver: Receiver, tenant: str) -> NotificationTarget:
    created = create_subscription(tenant, NewSubscription(url=receiver.url(), event_types=["*"]),
                                  store=store, policy=LOCAL)
    receiver.secrets["/hook"] = created.secret
    event = Event(id=new_id("evt"), tenant=tenant, type="order.created", data={"n": 1},
                  created_at=utc_now())
    store.put_event_if_new(event, "acceptance")
    target = NotificationTarget(tenant=tenant, event_id=event.id, subscription_id=created.id,
                                webhook_id=webhook_id(tenant, event.id, created.id),
                                execution_name=execution_name(event.id, created.id))
    store.create_notifications([target])
    return target


def deliver(store: Store, target: NotificationTarget, attempt: int = 0) -> Any:
    config = replace(DeliveryConfig.from_settings(get_settings()), policy=LOCAL)
    return deliver_notification(DeliveryRequest(notification=target, attempt=attempt,
                                                execution_arn="arn:fast"),
                                store=store, config=config)


def failing(store: Store, monkeypatch: pytest.MonkeyPatch, operation: str,
            when: Callable[[dict[str, Any]], bool], times: int = 10**6) -> list[str]:
    """The store's `operation` answers a DynamoDB throttle (after the SDK's retries) to the
    calls `when` picks, `times` times; returns a log of the throttled calls."""
    client = store._db
    real = getattr(client, operation)
    throttled: list[str] = []

    def call(**request: Any) -> Any:
        if when(request) and len(throttled) < times:
            throttled.append(operation)
            raise ClientError(THROTTLED, operation.title().replace("_", ""))
        return real(**request)

    monkeypatch.setattr(client, operation, call)
    return throttled


def delivered_write(request: dict[str, Any]) -> bool:
    return DELIVERED_ATTEMPTS in request.get("ExpressionAttributeNames", {}).values()


def test_a_throttle_while_preparing_is_stepwires_fault_with_no_attempt_and_no_breaker(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a notification whose reads DynamoDB throttles
    target = notification(store, receiver, "prepare")
    throttled = failing(store, monkeypatch, "batch_get_item", lambda _request: True)

    # When its Deliver task runs
    with pytest.raises(AwsFault) as raised:
        deliver(store, target)

    # Then the workflow sees Stepwire.AwsFault with AWS's code, nothing was sent, no attempt
    # is recorded, the endpoint's health is untouched and the notification is still pending
    assert type(raised.value).__name__ == "Stepwire.AwsFault"
    assert json.loads(str(raised.value))["aws_error"] == "ProvisionedThroughputExceededException"
    assert throttled and receiver.requests == {}
    _, [row] = store.get_event_with_notifications("prepare", target.event_id)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, [])
    assert store.endpoint_health("prepare", target.subscription_id).failure_streak == 0


def test_a_2xx_is_the_status_and_the_attempt_in_one_write(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a notification and a receiver that answers 200
    target = notification(store, receiver, "onewrite")
    writes = failing(store, monkeypatch, "put_item", lambda _request: False)  # counts none
    updates: list[dict[str, Any]] = []
    real_update = store._db.update_item

    def update(**request: Any) -> Any:
        updates.append(request)
        return real_update(**request)

    monkeypatch.setattr(store._db, "update_item", update)

    # When it is delivered
    result = deliver(store, target)

    # Then two writes in all: the claim and the delivered row with its attempt (no attempt row)
    assert result.status_code == 200
    assert writes == [] and len(updates) == 2 and delivered_write(updates[1])
    _, [row] = store.get_event_with_notifications("onewrite", target.event_id)
    assert row.status is NotificationStatus.DELIVERED
    assert [(a.status_code, a.execution_arn) for a in row.attempts] == [(200, "arn:fast")]
    assert store.attempts_of(target) == row.attempts


def test_a_delivered_write_that_keeps_failing_is_retried_and_posts_again_never_failed(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a receiver that answers 200 and a delivered write that DynamoDB throttles once
    target = notification(store, receiver, "after2xx")
    throttled = failing(store, monkeypatch, "update_item", delivered_write, times=1)

    # When the Deliver task runs: the POST succeeds, its record fails
    with pytest.raises(AwsFault):
        deliver(store, target)

    # Then the notification is not failed: it is still being delivered, with no attempt
    _, [row] = store.get_event_with_notifications("after2xx", target.event_id)
    assert throttled == ["update_item"]
    assert (row.status, row.attempts) == (NotificationStatus.DELIVERING, [])

    # When the workflow retries the task (same execution): at least once, same webhook-id
    deliver(store, target)
    requests = receiver.requests["/hook"]
    assert len(requests) == 2 and all(r.verified for r in requests)
    assert {r.headers["webhook-id"] for r in requests} == {target.webhook_id}
    _, [row] = store.get_event_with_notifications("after2xx", target.event_id)
    assert row.status is NotificationStatus.DELIVERED
    assert [a.status_code for a in row.attempts] == [200]


def test_a_lost_streak_reset_after_a_2xx_leaves_the_notification_delivered(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an endpoint with a failure streak, whose health item DynamoDB throttles on a 2xx
    target = notification(store, receiver, "streak")
    receiver.script = lambda _request: Answer(status=503)
    with pytest.raises(DeliveryRetryable):
        deliver(store, target)
    assert store.endpoint_health("streak", target.subscription_id).failure_streak == 1
    receiver.script = lambda _request: Answer(status=200)
    failing(store, monkeypatch, "update_item",
            lambda request: "failure_streak" in request.get("UpdateExpression", ""))

    # When the next attempt is answered 200
    result = deliver(store, target, attempt=1)

    # Then it is delivered all the same (the streak waits for the next success)
    assert result.status_code == 200
    _, [row] = store.get_event_with_notifications("streak", target.event_id)
    assert row.status is NotificationStatus.DELIVERED
    assert [a.status_code for a in row.attempts] == [503, 200]


def test_a_replay_delivered_again_keeps_both_delivered_attempts(
        store: Store, receiver: Receiver) -> None:
    target = notification(store, receiver, "replayed")
    deliver(store, target)
    store.set_notification_status(target, NotificationStatus.PENDING)  # as a replay does

    deliver(store, target)

    _, [row] = store.get_event_with_notifications("replayed", target.event_id)
    assert [a.status_code for a in row.attempts] == [200, 200]
    assert row.attempts[0].at < row.attempts[1].at


def test_a_dead_letter_of_stepwires_fault_says_so_and_is_kept_before_the_status(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a notification AWS's faults kept from its receiver until the window's end, and a
    # status write that DynamoDB throttles
    target = notification(store, receiver, "window")
    failing(store, monkeypatch, "update_item",
            lambda request: ":s" in request.get("ExpressionAttributeValues", {}))
    cause = json.dumps({"errorMessage": "Rate Exceeded.",
                        "errorType": "TooManyRequestsException"})
    report = FailureReport(notification=target, error="Lambda.TooManyRequestsException",
                           cause=cause, execution_arn="arn:tail")

    # When RecordFailure runs
    with pytest.raises(ClientError):
        record_failure(report, store=store)

    # Then the dead letter is kept, its cause blames Stepwire, and the notification is not
    # failed (the run ends Unfinished; the reconciler finishes it)
    [letter], _ = store.dead_letters_page("window", since="0", page_size=10, after=None)
    assert letter["cause"] == ("Stepwire's fault, not the receiver's: "
                               "Lambda.TooManyRequestsException kept it from the receiver "
                               "until the retry window's end; gave up before any attempt: "
                               "Rate Exceeded.")
    _, [row] = store.get_event_with_notifications("window", target.event_id)
    assert row.status is NotificationStatus.PENDING
