"""Storage and the ingest use case against emulated DynamoDB and Secrets Manager."""

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from stepwire.state.durability import end_attempt_leases
from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.delivery.failure import record_failure
from workflows.delivery.rate_limit import Pacing
from workflows.delivery.target_guard import TargetPolicy
from workflows.ingest.accept import accept_event, parse_published
from workflows.ingest.fan_out import fan_out_page
from workflows.kernel.errors import DeliveryPermanent, DeliveryRateLimited, InvalidEvent
from workflows.kernel.ids import new_id
from workflows.kernel.models import (
    Attempt,
    DeliveryRequest,
    FailureReport,
    NotificationStatus,
    NotificationTarget,
    SigningSecret,
    SubscriptionStatus,
    WaitReason,
    utc_now,
)
from workflows.kernel.settings import get_settings
from workflows.operations.cursor import CursorCodec
from workflows.operations.events import EventFilters, EventStatus, get_event, list_events
from workflows.operations.subscriptions import NewSubscription, create_subscription
from workflows.storage import Claim, Store, table

pytestmark = pytest.mark.functional
LOCAL = TargetPolicy(allow_private=True, require_https=False)


@dataclass
class Ingested:
    outcome: str  # accepted, duplicate or rejected
    event_id: str | None = None
    notifications: list[NotificationTarget] = field(default_factory=list)
    reason: str | None = None


def ingest_event(raw: dict, owner: str, *, store: Store) -> Ingested:
    """The acceptance and the whole fan-out (pages of 25), executions not started: these
    tests drive the deliveries themselves."""
    try:
        published = parse_published(raw)
    except InvalidEvent as exc:
        return Ingested("rejected", reason=exc.detail)
    accepted = accept_event(published, owner, store=store)
    if not accepted.new:
        return Ingested("duplicate", accepted.event.id)
    started: list[NotificationTarget] = []
    after = None
    while True:
        progress = fan_out_page(accepted.event, after, store=store, start=started.extend,
                                page_size=25)
        if progress.done:
            return Ingested("accepted", accepted.event.id, started)
        after = progress.after


def subscribe(store: Store, tenant: str, *event_types: str):
    return create_subscription(tenant, NewSubscription(url="http://127.0.0.1:9/hook",
                                                       event_types=list(event_types)),
                               store=store, policy=LOCAL)


def test_signing_secrets_are_encrypted_at_rest(store: Store, aws: dict) -> None:
    created = subscribe(store, "acme", "*")
    raw = aws["dynamodb"].get_item(TableName="stepwire-test", Key={
        "pk": {"S": table.tenant_key("acme")}, "sk": {"S": table.subscription_key(created.id)}})
    assert created.secret.startswith("whsec_")
    assert created.secret not in str(raw["Item"])
    assert created.secret[6:] not in str(raw["Item"])
    assert store.signing_secrets("acme", created.id) == [created.secret]


def test_rotated_out_secret_signs_until_it_expires(store: Store) -> None:
    created = subscribe(store, "acme", "*")
    subscription = store.get_subscription("acme", created.id)
    now = utc_now()
    store.put_subscription(subscription, [
        SigningSecret(value="whsec_bmV3"),
        SigningSecret(value=created.secret, expires_at=now + timedelta(hours=24)),
        SigningSecret(value="whsec_b2xk", expires_at=now - timedelta(seconds=1)),
    ])
    assert store.signing_secrets("acme", created.id) == ["whsec_bmV3", created.secret]


def test_ingest_plans_one_notification_per_matching_active_subscription(store: Store) -> None:
    exact = subscribe(store, "acme", "order.created")
    prefix = subscribe(store, "acme", "order.*")
    subscribe(store, "acme", "invoice.*")
    paused = subscribe(store, "acme", "*")
    store.set_subscription_status("acme", paused.id, SubscriptionStatus.PAUSED)
    subscribe(store, "other-tenant", "*")

    result = ingest_event({"tenant": "acme", "type": "order.created", "data": {}, "id": "e1"},
                          "exec-1", store=store)

    assert result.outcome == "accepted"
    assert {n.subscription_id for n in result.notifications} == {exact.id, prefix.id}
    event, notifications = store.get_event_with_notifications("acme", "e1")
    assert event.id == "e1" and event.type == "order.created"
    assert {n.status for n in notifications} == {NotificationStatus.PENDING}


def test_a_repeated_event_id_is_a_duplicate_but_a_retry_of_its_own_execution_is_not(
        store: Store) -> None:
    subscribe(store, "acme", "*")
    raw = {"tenant": "acme", "type": "a.b", "data": {"n": 1}, "id": "e2"}

    first = ingest_event(raw, "exec-1", store=store)
    retried = ingest_event(raw, "exec-1", store=store)  # the same execution, after a crash
    other = ingest_event({**raw, "data": {"n": 2}}, "exec-2", store=store)

    assert first.outcome == retried.outcome == "accepted"
    # Its rows exist and were just started: the retry starts none again (a second execution
    # would only add a duplicate); a row left pending longer is started again (below)
    assert retried.notifications == [] and len(first.notifications) == 1
    assert other.outcome == "duplicate" and other.notifications == []
    assert store.get_event("acme", "e2").data == {"n": 1}, "the first event stays"


def test_a_rerun_fan_out_starts_again_a_notification_left_pending(store: Store, aws: dict
                                                                    ) -> None:
    # Given a notification whose row was written, and whose start was lost, 3 minutes ago
    subscribe(store, "lost", "*")
    raw = {"tenant": "lost", "type": "a.b", "data": {}, "id": "e-lost"}
    [target] = ingest_event(raw, "exec-1", store=store).notifications
    aws["dynamodb"].update_item(
        TableName=store._table, Key=store.notification_key(target),
        UpdateExpression="SET updated_at = :then", ExpressionAttributeValues={
            ":then": {"S": (utc_now() - timedelta(minutes=3)).isoformat()}})
    # When the fan-out runs again, it starts it again
    assert ingest_event(raw, "exec-1", store=store).notifications == [target]


def test_the_same_event_id_in_two_tenants_is_two_events(store: Store) -> None:
    raw = {"type": "a.b", "data": {}, "id": "shared"}
    assert ingest_event({**raw, "tenant": "t1"}, "x1", store=store).outcome == "accepted"
    assert ingest_event({**raw, "tenant": "t2"}, "x2", store=store).outcome == "accepted"


def test_invalid_input_is_rejected_with_the_reason_and_nothing_stored(store: Store) -> None:
    result = ingest_event({"tenant": "acme", "type": "bad type", "data": {}, "id": "e3"}, "x",
                          store=store)
    assert result.outcome == "rejected"
    assert "type" in result.reason
    assert store.get_event("acme", "e3") is None


def test_attempts_are_rows_read_back_in_order_and_failure_composes_the_dead_letter(
        store: Store) -> None:
    subscription = subscribe(store, "acme", "*")
    [target] = ingest_event({"tenant": "acme", "type": "a.b", "data": {}, "id": "e4"}, "x",
                            store=store).notifications
    start = utc_now()
    for index, code in enumerate((503, 500, 400)):
        store.record_attempt(target, Attempt(at=start + timedelta(milliseconds=index),
                                             status_code=code, latency_ms=3,
                                             error=f"HTTP {code}", execution_arn="arn:exec"))

    cause = json.dumps({"errorMessage": json.dumps({"detail": "HTTP 400"})})
    letter = record_failure(FailureReport(notification=target, error="Delivery.Permanent",
                                          cause=cause, execution_arn="arn:exec"), store=store)

    _, [notification] = store.get_event_with_notifications("acme", "e4")
    assert [a.status_code for a in notification.attempts] == [503, 500, 400]
    assert {a.execution_arn for a in notification.attempts} == {"arn:exec"}
    assert notification.status is NotificationStatus.FAILED
    assert notification.execution_arn == "arn:exec"
    assert (letter.event_id, letter.subscription_id, letter.error, letter.cause) == (
        "e4", subscription.id, "Delivery.Permanent",
        "gave up after 3 attempts over 0s; last error: HTTP 400")


def test_a_rerun_ingest_leaves_a_delivered_notification_delivered(store: Store) -> None:
    # Given a notification that was delivered
    subscribe(store, "rerun", "*")
    raw = {"tenant": "rerun", "type": "a.b", "data": {}, "id": "e5"}
    [target] = ingest_event(raw, "exec-1", store=store).notifications
    assert store.claim_attempt(target, "arn:first", lease_seconds=60) is Claim.CLAIMED
    store.set_notification_status(target, NotificationStatus.DELIVERED)
    # When the same ingest execution runs again (Express runs at least once)
    again = ingest_event(raw, "exec-1", store=store)
    # Then it starts nothing (only pending rows are started again), its row stays delivered,
    # and no attempt is allowed
    assert again.notifications == []
    _, [notification] = store.get_event_with_notifications("rerun", "e5")
    assert notification.status is NotificationStatus.DELIVERED
    assert store.claim_attempt(target, "arn:second", lease_seconds=60) is Claim.DELIVERED


def test_a_hand_off_keeps_the_lease_for_the_tail_and_a_restart_ends_it(
        store: Store, aws: dict) -> None:
    # Given a fast execution that attempted and handed the notification to its long tail
    subscribe(store, "handoff", "*")
    [target] = ingest_event({"tenant": "handoff", "type": "a.b", "data": {}, "id": "e7"}, "x",
                            store=store).notifications
    assert store.claim_attempt(target, "arn:fast", lease_seconds=60) is Claim.CLAIMED
    store.set_notification_status(target, NotificationStatus.DELIVERING,
                                  execution_arn="arn:fast--tail")
    # Then a repeated run of the fast execution (Express runs at least once) is held off,
    # while the tail may attempt
    assert store.claim_attempt(target, "arn:fast-again", lease_seconds=60) is Claim.HELD
    assert store.claim_attempt(target, "arn:fast--tail", lease_seconds=60) is Claim.CLAIMED

    # When the local runtime restarts (no attempt survives a process)
    ended = end_attempt_leases(dynamodb_backends[ACCOUNT_ID]["us-east-1"].tables.values())

    # Then a resumed fast execution may attempt (and hand off again, to the same tail name),
    # instead of waiting on a tail that may never have started
    assert ended == 1
    assert store.claim_attempt(target, "arn:fast", lease_seconds=60) is Claim.CLAIMED


def test_one_execution_at_a_time_holds_an_attempt_until_its_lease_ends(store: Store) -> None:
    subscribe(store, "lease", "*")
    [target] = ingest_event({"tenant": "lease", "type": "a.b", "data": {}, "id": "e6"}, "x",
                            store=store).notifications

    assert store.claim_attempt(target, "arn:a", lease_seconds=60) is Claim.CLAIMED
    assert store.claim_attempt(target, "arn:b", lease_seconds=60) is Claim.HELD
    assert store.claim_attempt(target, "arn:a", lease_seconds=60) is Claim.CLAIMED  # its own
    # An expired lease (here: zero seconds) lets another execution take over.
    assert store.claim_attempt(target, "arn:a", lease_seconds=-1) is Claim.CLAIMED
    assert store.claim_attempt(target, "arn:b", lease_seconds=60) is Claim.CLAIMED
    # A replay marks it pending again, which ends the lease at once.
    store.set_notification_status(target, NotificationStatus.PENDING)
    assert store.claim_attempt(target, "arn:c", lease_seconds=60) is Claim.CLAIMED
    _, [notification] = store.get_event_with_notifications("lease", "e6")
    assert notification.execution_arn == "arn:c"
    assert notification.status is NotificationStatus.DELIVERING


def test_many_notifications_are_written_in_batches(store: Store) -> None:
    ids = {subscribe(store, "wide", "*").id for _ in range(60)}
    result = ingest_event({"tenant": "wide", "type": "a.b", "data": {}, "id": new_id("evt")},
                          "x", store=store)
    _, notifications = store.get_event_with_notifications("wide", result.event_id)
    assert {n.subscription_id for n in notifications} == ids


def test_an_event_that_matched_no_subscription_is_unmatched_not_delivered(store: Store) -> None:
    # Given a tenant whose only subscription wants other events
    subscribe(store, "quiet", "invoice.*")
    # When an order event is ingested
    result = ingest_event({"tenant": "quiet", "type": "order.created", "data": {}, "id": "e9"},
                          "x", store=store)
    # Then nothing is planned, and the event says so, in its detail and as a list filter
    assert result.outcome == "accepted" and result.notifications == []
    assert get_event("quiet", "e9", store=store).status is EventStatus.UNMATCHED
    codec = CursorCodec(b"k" * 32)
    page = list_events("quiet", EventFilters(status=EventStatus.UNMATCHED), 10, None,
                       store=store, codec=codec)
    assert [(e.id, e.status) for e in page.items] == [("e9", EventStatus.UNMATCHED)]
    delivered = list_events("quiet", EventFilters(status=EventStatus.DELIVERED), 10, None,
                            store=store, codec=codec)
    assert delivered.items == []


def test_a_rate_limited_delivery_says_when_its_turn_comes_and_makes_no_attempt(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an endpoint limited to 1 delivery/s whose coming seconds are already taken
    created = create_subscription("limited", NewSubscription(
        url="http://127.0.0.1:9/hook", event_types=["*"], rate_limit=1), store=store,
        policy=LOCAL)
    [target] = ingest_event({"tenant": "limited", "type": "a.b", "data": {}, "id": "e9"}, "x",
                            store=store).notifications
    now = utc_now()
    taken = [store.take_delivery_slot("limited", created.id, f"other_{n}", Pacing(1),
                                      now.timestamp()) for n in range(3)]

    # When its workflow's Deliver task runs, at the same instant
    monkeypatch.setattr("workflows.delivery.attempt.utc_now", lambda: now)
    with pytest.raises(DeliveryRateLimited, match="3 are ahead of it") as raised:
        deliver_notification(DeliveryRequest(notification=target, attempt=0,
                                             execution_arn="arn:fast"),
                             store=store, config=DeliveryConfig.from_settings(get_settings()))

    # Then it waits whole seconds for the slot after theirs (3.3 s ahead: 3 s, then the task
    # waits the rest), the trace says when that slot comes, and no attempt was made
    slot = taken[-1].at + Pacing(1).interval
    assert raised.value.details["wait_seconds"] == 3
    _, [notification] = store.get_event_with_notifications("limited", "e9")
    assert notification.next_attempt is not None
    assert notification.next_attempt.reason is WaitReason.RATE_LIMITED
    due = notification.next_attempt.decided_at.timestamp() + notification.next_attempt.wait_seconds
    assert due == pytest.approx(slot, abs=0.01)
    assert notification.attempts == []


def test_a_delivery_rate_limited_past_the_retry_window_ends_failed_not_waiting_for_ever(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a retry window already over for an event waiting on a rate-limited endpoint
    monkeypatch.setenv("STEPWIRE_RETRY_WINDOW_SECONDS", "1")
    get_settings.cache_clear()
    create_subscription("late", NewSubscription(
        url="http://127.0.0.1:9/hook", event_types=["*"], rate_limit=1), store=store,
        policy=LOCAL)
    [target] = ingest_event({"tenant": "late", "type": "a.b", "data": {}, "id": "e10"}, "x",
                            store=store).notifications
    config = DeliveryConfig.from_settings(get_settings())
    get_settings.cache_clear()
    later = utc_now() + timedelta(seconds=2)

    # When its Deliver task runs once the window is over
    with pytest.MonkeyPatch.context() as clock:
        clock.setattr("workflows.delivery.attempt.utc_now", lambda: later)
        with pytest.raises(DeliveryPermanent, match="rate limited past the retry window"):
            deliver_notification(DeliveryRequest(notification=target, attempt=0,
                                                 execution_arn="arn:fast"),
                                 store=store, config=config)

    # Then no attempt was made: the workflow sends it to the dead letters with that reason
    _, [notification] = store.get_event_with_notifications("late", "e10")
    assert notification.attempts == []
