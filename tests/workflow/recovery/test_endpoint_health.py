"""The circuit breaker per endpoint on the engine: a dead endpoint parks its notifications in
the table (no execution waits for it), one recovery execution probes it and releases them; a
parked notification past the retry window ends in the dead-letter queue."""

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from stepwire.emulation.stepfunctions import executions
from tests.support.receiver import Answer, Received, Receiver
from tests.workflow.conftest import Workflows
from workflows import wiring
from workflows.delivery.breaker import BreakerState
from workflows.kernel import activity
from workflows.kernel.ids import new_id
from workflows.kernel.models import NotificationStatus, SubscriptionStatus
from workflows.kernel.settings import get_settings
from workflows.operations.events import get_event
from workflows.operations.subscriptions import (
    CreatedSubscription,
    SubscriptionChanges,
    subscription_detail,
    update_subscription,
)

pytestmark = pytest.mark.workflow

# Events published to the dead endpoint (the engine runs about 15 executions/s on this
# machine: `make bench-outage` runs 1,000).
OUTAGE_EVENTS = 1000


class Switch:
    """A receiver that answers `down` (503 or a dropped connection) until switched up."""

    def __init__(self, down: Answer) -> None:
        self.up = threading.Event()
        self.down = down
        self.accepted: Counter = Counter()  # webhook-id → 200s answered
        self._lock = threading.Lock()

    def __call__(self, request: Received) -> Answer:
        if not self.up.is_set():
            return self.down
        with self._lock:
            self.accepted[request.headers["webhook-id"]] += 1
        return Answer(status=200)


def eventually(check: Callable[[], bool], timeout: float = 180.0, what: str = "",
               progress: Callable[[], object] = lambda: None) -> None:
    """Poll the table until `check` holds (the engine has no completion API)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {timeout} s: {what} ({progress()})")
        time.sleep(0.05)


def statuses(flows: Workflows, event_ids: list[str]) -> Counter:
    """Notification statuses of the events (those the ingest has stored yet)."""
    found = Counter()
    for event_id in event_ids:
        stored = wiring.store().get_event_with_notifications(flows.tenant, event_id)
        found.update(n.status.value for n in (stored[1] if stored else []))
    return found


def running(flows: Workflows) -> dict[str, int]:
    resources = flows.runtime.resources
    assert resources is not None
    return {name: executions.running_executions(arn)
            for name, arn in resources.state_machine_arns.items()}


def publish_many(flows: Workflows, count: int) -> list[str]:
    events = [flows.event(n=i) for i in range(count)]
    for event in events:
        flows.publish(event)
    return [e["id"] for e in events]


def test_a_down_endpoint_parks_its_notifications_then_gets_each_once(
        flows: Workflows, settings, monkeypatch) -> None:
    lines: list[dict] = []
    monkeypatch.setattr(activity, "_sink", lines.append)
    # Given an endpoint that answers 503, a retry window longer than the test, and
    # a 5 s request timeout rather than the tier's 0.5 s (the other tenant's first attempt
    # below must not fail on a receiver slowed by a busy machine)
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=10**9,
             request_timeout_seconds=5)
    switch = Switch(Answer(status=503))
    flows.receiver.script = switch
    subscription = flows.subscribe()
    store = wiring.store()
    peak = Counter()
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            try:
                for name, count in running(flows).items():
                    peak[name] = max(peak[name], count)
            except AttributeError:
                pass  # moto: an execution being created has no status yet
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    # When the events are published to it while it is down
    event_ids = publish_many(flows, OUTAGE_EVENTS)
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == OUTAGE_EVENTS,
               what="every notification parked",
               progress=lambda: store.parked_count(flows.tenant, subscription.id))
    found = statuses(flows, event_ids)
    # (the recovery's probe holds the oldest one `delivering` while it attempts it)
    assert found["parked"] + found["delivering"] == OUTAGE_EVENTS and found["delivering"] <= 1

    # Then every one is parked, none dead-lettered, and only the recovery execution runs
    health = store.endpoint_health(flows.tenant, subscription.id)
    assert health.breaker in (BreakerState.OPEN, BreakerState.HALF_OPEN)
    assert health.failure_streak >= get_settings().breaker_failure_threshold
    assert health.last_error == "HTTP 503"
    # And the trace says when the next attempt is due: not before the endpoint's next probe
    [view] = get_event(flows.tenant, event_ids[-1], store=store).notifications
    assert view.next_attempt_reason == "parked"
    assert view.next_attempt_at is not None and view.next_attempt_at > health.opened_at
    eventually(lambda: running(flows)["notification"] == 0, what="fast executions ended")
    now_running = running(flows)
    assert now_running["recovery"] == 1
    assert now_running["long-tail"] == 0
    assert flows.dead_letters() == []
    attempts_while_down = len(flows.receiver.requests.get("/hook", []))

    # And another tenant's endpoint, meanwhile, gets its events at the first attempt
    with Receiver() as other_receiver:
        other = Workflows(flows.runtime, other_receiver, new_id("tenant"))
        other_subscription = other.subscribe()
        other_ids = publish_many(other, 5)
        eventually(lambda: statuses(other, other_ids) == {"delivered": 5},
                   what="the other tenant's events delivered")
        assert all(r.verified for r in other_receiver.wait_for("/hook", 5))
    for event_id in other_ids:
        _, [notification] = other.notification(event_id)
        assert [a.status_code for a in notification.attempts] == [200]
    assert store.endpoint_health(other.tenant, other_subscription.id).breaker is \
        BreakerState.CLOSED

    # When the endpoint recovers
    switch.up.set()

    # Then the recovery's probe closes the breaker and every event arrives exactly once
    eventually(lambda: len(switch.accepted) == OUTAGE_EVENTS, what="every event accepted")
    eventually(lambda: statuses(flows, event_ids) == {"delivered": OUTAGE_EVENTS},
               what="every notification delivered", progress=lambda: statuses(flows, event_ids))
    sampling.set()
    sampler.join()
    delivered = flows.receiver.requests["/hook"][attempts_while_down:]
    assert all(r.verified for r in delivered)
    # Accepted exactly once per webhook-id, unless an accepted POST's answer timed out (this
    # busy machine, 0.5 s): then it was sent again with the same webhook-id, as the contract says.
    assert len(switch.accepted) == OUTAGE_EVENTS
    by_webhook = {r.headers["webhook-id"]: r.payload["id"] for r in delivered}
    assert set(by_webhook.values()) == set(event_ids)
    for webhook, count in switch.accepted.items():
        if count > 1:
            _, [notification] = flows.notification(by_webhook[webhook])
            timeouts = [a for a in notification.attempts if a.status_code is None]
            assert len(timeouts) >= count - 1, f"{webhook} accepted {count} times"
    assert store.endpoint_health(flows.tenant, subscription.id).breaker is BreakerState.CLOSED
    assert store.parked_count(flows.tenant, subscription.id) == 0
    # and the runtime said so, once each way
    changes = [line["state"] for line in lines if line["activity"] == "breaker.changed"
               and line["subscription_id"] == subscription.id]
    assert changes == ["open", "closed"]
    eventually(lambda: running(flows)["recovery"] == 0, what="the recovery ended")
    assert flows.dead_letters() == []
    # Far fewer attempts than notifications × schedule while it was down.
    assert attempts_while_down < OUTAGE_EVENTS
    # One recovery; a long tail only for a notification whose second attempt failed before the
    # breaker opened (it parks at its next attempt: none ran once everything was parked).
    assert peak["recovery"] == 1
    assert peak["long-tail"] <= get_settings().breaker_failure_threshold


def test_sporadic_failures_do_not_open_the_breaker(flows: Workflows) -> None:
    # Given an endpoint that refuses one payload (422) and fails once (500) among good answers
    seen: Counter = Counter()
    lock = threading.Lock()

    def script(request: Received) -> Answer:
        n = (request.payload or {}).get("data", {}).get("n")
        with lock:
            seen[n] += 1
            first = seen[n] == 1
        if n == 7:
            return Answer(status=422)
        if n in (3, 11) and first:
            return Answer(status=500)
        return Answer(status=200)

    flows.receiver.script = script
    subscription = flows.subscribe()

    # When 20 events are delivered to it
    event_ids = publish_many(flows, 20)
    eventually(lambda: sum(statuses(flows, event_ids)[s] for s in
                           (NotificationStatus.DELIVERED, NotificationStatus.FAILED)) == 20,
               what="every notification ended")

    # Then the breaker stays closed: 19 delivered, the refused payload dead-lettered
    health = wiring.store().endpoint_health(flows.tenant, subscription.id)
    assert health.breaker is BreakerState.CLOSED
    assert health.failure_streak == 0
    assert statuses(flows, event_ids) == {"delivered": 19, "failed": 1}
    assert [d["error"] for d in flows.dead_letters()] == ["Delivery.Permanent"]


def test_parked_past_the_retry_window_ends_in_the_dead_letter_queue(
        flows: Workflows, settings) -> None:
    # Given an endpoint that refuses connections, and the default window (scaled: ~1 s)
    settings(auto_disable_after_seconds=10**9, breaker_failure_threshold=3)
    switch = Switch(Answer(drop=True))
    flows.receiver.script = switch
    subscription = flows.subscribe()

    # When 5 events are published and the endpoint never comes back
    event_ids = publish_many(flows, 5)
    eventually(lambda: statuses(flows, event_ids)[NotificationStatus.FAILED] == 5,
               what="every notification failed")

    # Then each is dead-lettered once, as the window's end, redrivable from the table (a letter
    # reaches the queue just after its notification is marked failed)
    letters: list[dict] = []
    eventually(lambda: letters.extend(flows.dead_letters()) or len(letters) >= 5,
               what="every dead letter in the queue")
    assert sorted(d["event_id"] for d in letters) == sorted(event_ids)
    errors = Counter(d["error"] for d in letters)
    assert errors["Delivery.WindowEnded"] >= 2  # the parked ones (the first few may not be)
    assert wiring.store().parked_count(flows.tenant, subscription.id) == 0


def disabled_after_sustained_failure(flows: Workflows, settings: Callable[..., None],
                                     events: int) -> tuple[Switch, CreatedSubscription,
                                                           list[str]]:
    """An endpoint down (502) longer than the auto-disable window (100,000 s: 1 s scaled)
    while `events` events are published to it, until its subscription is disabled."""
    settings(retry_window_seconds=10**9, auto_disable_after_seconds=100_000,
             breaker_failure_threshold=3)
    switch = Switch(Answer(status=502))
    flows.receiver.script = switch
    subscription = flows.subscribe()
    event_ids = publish_many(flows, events)
    eventually(lambda: wiring.store().get_subscription(flows.tenant, subscription.id).status
               is SubscriptionStatus.DISABLED, what="the subscription disabled")
    return switch, subscription, event_ids


def test_sustained_failure_disables_and_a_re_enable_delivers_what_was_parked(
        flows: Workflows, settings) -> None:
    # Given an endpoint down longer than the auto-disable window
    # When events keep failing to it
    switch, subscription, event_ids = disabled_after_sustained_failure(flows, settings, 6)
    store = wiring.store()

    # Then it is disabled with a reason and a time, and its notifications stay parked
    detail = subscription_detail(flows.tenant, subscription.id, store=store)
    assert detail.status is SubscriptionStatus.DISABLED
    assert detail.health.disabled_reason.startswith("only failures since ")
    assert "HTTP 502" in detail.health.disabled_reason
    assert detail.health.disabled_at is not None
    eventually(lambda: store.parked_count(flows.tenant, subscription.id) == 6,
               what="every notification parked")
    assert flows.dead_letters() == []
    # ... with no due time: they wait for a re-enable
    [view] = get_event(flows.tenant, event_ids[-1], store=store).notifications
    assert (view.next_attempt_at, view.next_attempt_reason) == (None, "disabled")
    attempts_while_down = len(flows.receiver.requests.get("/hook", []))

    # When the endpoint is back and an admin re-enables the subscription
    switch.up.set()
    update_subscription(flows.tenant, subscription.id,
                        SubscriptionChanges(status=SubscriptionStatus.ACTIVE), store=store,
                        policy=wiring.target_policy(),
                        recoveries=wiring.recovery_executions())

    # Then what was parked is delivered, once each, and the health is clean again
    eventually(lambda: statuses(flows, event_ids) == {"delivered": 6},
               what="the parked notifications delivered")
    delivered = flows.receiver.requests["/hook"][attempts_while_down:]
    assert {r.payload["id"] for r in delivered} == set(event_ids)
    assert sorted(switch.accepted.values()) == [1] * 6, "each accepted once"
    health = subscription_detail(flows.tenant, subscription.id, store=store).health
    assert (health.breaker, health.disabled_reason, health.parked) == (
        BreakerState.CLOSED, None, 0)
