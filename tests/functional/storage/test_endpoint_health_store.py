"""The endpoint-health and parked-notification records against emulated DynamoDB: every
breaker transition is one conditional write, and parking holds only under an open breaker."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from workflows.delivery.attempt import DeliveryConfig
from workflows.delivery.breaker import BreakerState
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import (
    Attempt,
    NotificationStatus,
    NotificationTarget,
    Subscription,
    utc_now,
)
from workflows.kernel.settings import get_settings
from workflows.recovery.expiry import DeadLetterQueue
from workflows.recovery.handover import continue_as_new_if_due
from workflows.recovery.liveness import RecoveryLiveness
from workflows.recovery.outcomes import Endpoint, Outcome
from workflows.recovery.probe import ProbeRequest, probe_endpoint
from workflows.recovery.release import ReleaseRequest, ReleaseResult, release_parked
from workflows.storage import Store

pytestmark = pytest.mark.functional


def target(tenant: str, subscription_id: str) -> NotificationTarget:
    event_id = new_id("evt")
    return NotificationTarget(tenant=tenant, event_id=event_id, subscription_id=subscription_id,
                              webhook_id=webhook_id(tenant, event_id, subscription_id),
                              execution_name=execution_name(event_id, subscription_id))


class NoExecutions:
    """Step Functions with no execution at all: every recovery named is yet to start."""

    def describe_execution(self, executionArn: str) -> dict:
        raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": executionArn}},
                          "DescribeExecution")


def liveness(store: Store) -> RecoveryLiveness:
    return RecoveryLiveness(NoExecutions(), "arn:aws:states:us-east-1:1:stateMachine:recovery",
                            store)


def test_only_counted_failures_extend_the_streak_and_a_success_ends_it(store: Store) -> None:
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_a", "HTTP 503", now, counts=True)
    health = store.record_endpoint_failure("acme", "sub_a", "HTTP 500", now, counts=False)
    assert (health.failure_streak, health.last_error, health.breaker) == (
        1, "HTTP 500", BreakerState.CLOSED)
    assert health.failing_since == now

    store.record_endpoint_success("acme", "sub_a")

    health = store.endpoint_health("acme", "sub_a")
    assert health.failure_streak == 0 and health.failing_since is None
    assert health.last_error == "HTTP 500"  # kept for the tenant to see


def test_the_breaker_opens_once_and_keeps_the_running_recovery(store: Store) -> None:
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_b", "HTTP 503", now, counts=True)

    first = store.open_breaker("acme", "sub_b", "recovery-1", now)
    second = store.open_breaker("acme", "sub_b", "recovery-2", now)

    assert first is not None and first.breaker is BreakerState.OPEN
    assert first.recovery == "recovery-1"
    assert second is None, "only one delivery opens it"
    # A recovery that has not ended yet is kept when the breaker opens again.
    assert store.close_breaker("acme", "sub_b")
    reopened = store.open_breaker("acme", "sub_b", "recovery-3", now)
    assert reopened is not None and reopened.recovery == "recovery-1"


def test_parking_needs_the_open_breaker_of_that_recovery(store: Store) -> None:
    now = utc_now()
    parked, late = target("acme", "sub_c"), target("acme", "sub_c")
    store.create_notifications([parked, late])
    store.record_endpoint_failure("acme", "sub_c", "HTTP 503", now, counts=True)
    store.open_breaker("acme", "sub_c", "recovery-c", now)

    assert not store.park(parked, "another-recovery", now), "not under another recovery"
    assert store.park(parked, "recovery-c", now - timedelta(seconds=1))
    assert store.close_breaker("acme", "sub_c")
    assert not store.park(late, "recovery-c", now), "never after the breaker closed"

    assert store.parked_count("acme", "sub_c") == 1
    [(_, found)] = store.oldest_parked("acme", "sub_c", limit=10)
    assert found.notification == parked
    assert store.get_notification("acme", parked.event_id, "sub_c")["status"] == \
        NotificationStatus.PARKED.value
    assert store.get_notification("acme", late.event_id, "sub_c")["status"] == \
        NotificationStatus.PENDING.value


def test_parked_notifications_come_back_oldest_event_first(store: Store) -> None:
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_d", "HTTP 503", now, counts=True)
    store.open_breaker("acme", "sub_d", "recovery-d", now)
    targets = [target("acme", "sub_d") for _ in range(3)]
    store.create_notifications(targets)
    for age, item in zip((1, 3, 2), targets, strict=True):
        store.park(item, "recovery-d", now - timedelta(minutes=age))

    oldest = [p.notification for _, p in store.oldest_parked("acme", "sub_d", limit=2)]

    assert oldest == [targets[1], targets[2]]


def test_a_recovery_ends_only_while_the_breaker_is_closed(store: Store) -> None:
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_e", "HTTP 503", now, counts=True)
    store.open_breaker("acme", "sub_e", "recovery-e", now)

    assert not store.finish_recovery("acme", "sub_e", "recovery-e")
    store.close_breaker("acme", "sub_e")
    assert not store.finish_recovery("acme", "sub_e", "someone-else")
    assert store.finish_recovery("acme", "sub_e", "recovery-e")
    assert store.endpoint_health("acme", "sub_e").recovery is None


def test_only_the_named_recovery_acts_a_superseded_one_hands_over(store: Store) -> None:
    # Given an endpoint whose open breaker names recovery "r1", then a re-enable naming "r2"
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_h", "HTTP 503", now, counts=True)
    store.open_breaker("acme", "sub_h", "r1", now)
    assert store.close_breaker_for_release("acme", "sub_h", "r2") == "r1"
    endpoint = Endpoint(tenant="acme", subscription_id="sub_h")

    # Then r1, waking, neither probes nor releases: it hands over to r2
    probe = probe_endpoint(ProbeRequest(
        endpoint=endpoint, probes=3, probe_waits=[5, 30],
        execution_arn="arn:aws:states:us-east-1:1:execution:recovery:r1"),
        store=store, config=DeliveryConfig.from_settings(get_settings()),
        recoveries=liveness(store), queue=DeadLetterQueue(None, "dlq"))
    assert (probe.outcome, probe.successor, probe.dead_lettered) == (
        Outcome.SUPERSEDED, "r2", 0)
    release = release_parked(ReleaseRequest(endpoint=endpoint, recovery_name="r1"),
                             store=store, sfn=None, notification_state_machine_arn="n",
                             default_rate=10, recoveries=liveness(store))
    assert (release.outcome, release.successor) == (Outcome.SUPERSEDED, "r2")
    # and a second re-enable of a closed breaker names nobody new
    assert store.close_breaker_for_release("acme", "sub_h", "r3") is None
    # and once r2 has finished, r1 just ends
    assert store.finish_recovery("acme", "sub_h", "r2")
    ended = release_parked(ReleaseRequest(endpoint=endpoint, recovery_name="r1"),
                           store=store, sfn=None, notification_state_machine_arn="n",
                           default_rate=10, recoveries=liveness(store))
    assert (ended.outcome, ended.successor) == (Outcome.DONE, None)


def test_continue_as_new_names_a_successor_after_n_batches(store: Store) -> None:
    # Given the running recovery "r1" of a closed breaker, releasing
    now = utc_now()
    store.record_endpoint_failure("acme", "sub_c", "HTTP 503", now, counts=True)
    store.open_breaker("acme", "sub_c", "r1", now)
    store.close_breaker("acme", "sub_c")
    endpoint = Endpoint(tenant="acme", subscription_id="sub_c")
    more = ReleaseResult(outcome=Outcome.MORE)

    # When its first of 3 batches leaves more parked: it carries on
    first = ReleaseRequest(endpoint=endpoint, recovery_name="r1", batches=0)
    assert continue_as_new_if_due(first, more, store=store, batches_per_execution=3) == more
    # When its third does: it names a successor and hands over
    third = ReleaseRequest(endpoint=endpoint, recovery_name="r1", batches=2)
    handed = continue_as_new_if_due(third, more, store=store, batches_per_execution=3)
    assert handed.outcome is Outcome.CONTINUE
    assert store.endpoint_health("acme", "sub_c").recovery == handed.successor != "r1"
    # When the last batch emptied the backlog: it ends as it would have
    done = ReleaseResult(outcome=Outcome.DONE)
    assert continue_as_new_if_due(third, done, store=store, batches_per_execution=3) == done


class RecordedStarts:
    """Step Functions' StartExecution, in memory: the executions a release starts."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def start_execution(self, **request: str) -> dict:
        self.names.append(request["name"])
        return {"executionArn": f"arn:aws:states:::execution:n:{request['name']}"}


@pytest.mark.parametrize(("rate_limit", "released", "outcome"), [
    (3, 3, Outcome.MORE),  # the endpoint's rate: 3 this second, the rest in the next ones
    (None, 8, Outcome.DONE),  # no rate limit: the release rate (10/s) takes all 8 at once
])
def test_a_recovery_releases_at_the_endpoints_rate_when_it_has_one(
        store: Store, rate_limit: int | None, released: int, outcome: Outcome) -> None:
    # Given an endpoint with 8 parked notifications whose breaker has just closed
    now = utc_now()
    subscription_id = new_id("sub")
    store.put_subscription(Subscription(id=subscription_id, tenant="acme", url="http://x/h",
                                        event_types=["*"], rate_limit=rate_limit,
                                        created_at=now, updated_at=now), [])
    store.record_endpoint_failure("acme", subscription_id, "HTTP 503", now, counts=True)
    store.open_breaker("acme", subscription_id, "recovery-r", now)
    targets = [target("acme", subscription_id) for _ in range(8)]
    store.create_notifications(targets)
    for item in targets:
        store.park(item, "recovery-r", now)
    store.close_breaker("acme", subscription_id)
    starts = RecordedStarts()

    # When the recovery releases one second's worth
    result = release_parked(
        ReleaseRequest(endpoint=Endpoint(tenant="acme", subscription_id=subscription_id),
                       recovery_name="recovery-r"),
        store=store, sfn=starts, notification_state_machine_arn="arn:aws:states:::stateMachine:n",
        default_rate=10, recoveries=liveness(store))

    # Then it restarted as many as the endpoint's rate allows, and the rest stay parked
    assert len(starts.names) == released
    assert store.parked_count("acme", subscription_id) == 8 - released
    assert result.outcome is outcome


def test_a_release_does_not_send_again_what_the_old_recoverys_probe_just_delivered(
        store: Store) -> None:
    # Given two parked notifications; a re-enable has closed the breaker under a new recovery
    # while the old recovery's probe delivered the first (its parked row not yet removed)
    now = utc_now()
    subscription_id = new_id("sub")
    store.put_subscription(Subscription(id=subscription_id, tenant="acme", url="http://x/h",
                                        event_types=["*"], created_at=now, updated_at=now), [])
    store.record_endpoint_failure("acme", subscription_id, "HTTP 502", now, counts=True)
    store.open_breaker("acme", subscription_id, "recovery-old", now)
    probed, other = target("acme", subscription_id), target("acme", subscription_id)
    store.create_notifications([probed, other])
    for item in (probed, other):
        store.park(item, "recovery-old", now)
    store.mark_delivered(probed, Attempt(at=now, status_code=200, latency_ms=3, error=None,
                                         execution_arn="arn:recovery-old"))
    store.close_breaker("acme", subscription_id)
    starts = RecordedStarts()

    # When the recovery releases what is parked
    release_parked(
        ReleaseRequest(endpoint=Endpoint(tenant="acme", subscription_id=subscription_id),
                       recovery_name="recovery-old"),
        store=store, sfn=starts, notification_state_machine_arn="arn:aws:states:::stateMachine:n",
        default_rate=10, recoveries=liveness(store))

    # Then only the other one is restarted; the delivered one stays delivered, unparked
    assert len(starts.names) == 1
    assert store.parked_count("acme", subscription_id) == 0
    status = {item.event_id: store.get_notification("acme", item.event_id,
                                                    subscription_id)["status"]
              for item in (probed, other)}
    assert status == {probed.event_id: NotificationStatus.DELIVERED.value,
                      other.event_id: NotificationStatus.PENDING.value}
