"""The reconciler's rules: when a notification is abandoned, which executions can be asked
whether they live, what an event's fan-out missed, the restart buckets, the scaled times."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.kernel.models import Subscription, SubscriptionStatus
from workflows.kernel.settings import Settings
from workflows.recovery.reconcile import ReconcileConfig
from workflows.recovery.reconcile_rules import (
    STALE_AFTER_SECONDS,
    Verdict,
    judge,
    missing_subscriptions,
    runs_as_express,
)
from workflows.storage.reconciler import window_key
from workflows.storage.restart_markers import buckets_between, restart_bucket

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STALE = timedelta(seconds=STALE_AFTER_SECONDS)
EXPRESS = frozenset({"stepwire-notification", "stepwire-ingest"})
ARN = "arn:aws:states:us-east-1:123456789012"
FAST = f"{ARN}:execution:stepwire-notification:evt_1--sub_1"
TAIL = f"{ARN}:execution:stepwire-long-tail:evt_1--sub_1--tail"


def row(status: str = "pending", age: timedelta = STALE, **more: object) -> dict:
    return {"status": status, "updated_at": (NOW - age).isoformat(), **more}


@pytest.mark.parametrize(("arn", "express"), [
    (FAST, True),  # the local engine's name of an Express execution: its machine tells
    (f"{ARN}:express:stepwire-notification:evt_1--sub_1:0a1b", True),  # AWS's Express ARN
    (f"{ARN}:express:anything:name:id", True),
    (TAIL, False),
    (f"{ARN}:execution:stepwire-recovery:recovery--acme--sub_1--o_1", False),
    ("evt_1--sub_1", True),  # a bare name: a Deliver that was given no ARN
])
def test_only_standard_executions_can_be_asked_whether_they_run(arn: str, express: bool):
    assert runs_as_express(arn, EXPRESS) is express


@pytest.mark.parametrize(("notification", "verdict"), [
    # Settled: none of the reconciler's business (parked belongs to its endpoint's recovery)
    (row("delivered"), Verdict.SETTLED),
    (row("failed"), Verdict.SETTLED),
    (row("parked"), Verdict.SETTLED),
    # Written within the stale age: an execution may still be on its way to it
    (row("pending", STALE - timedelta(seconds=1)), Verdict.FRESH),
    (row("delivering", STALE - timedelta(seconds=1), execution_arn=FAST), Verdict.FRESH),
    # An attempt's lease not run out: its POST may take the whole lease
    (row("delivering", lease_until=int(NOW.timestamp()) + 1, execution_arn=FAST),
     Verdict.FRESH),
    # Stale, no execution or an Express one: it has ended (5 minutes at most)
    (row("pending"), Verdict.ABANDONED),
    (row("delivering", execution_arn=FAST, lease_until=int(NOW.timestamp()) - 1),
     Verdict.ABANDONED),
    (row("pending", timedelta(days=1), execution_arn=FAST), Verdict.ABANDONED),
    # Stale, in the hands of a Standard execution: ask Step Functions
    (row("delivering", timedelta(hours=5), execution_arn=TAIL), Verdict.ASK),
])
def test_a_notification_is_abandoned_only_when_no_execution_can_still_own_it(notification,
                                                                            verdict):
    assert judge(notification, NOW, STALE, EXPRESS) is verdict


def test_the_stale_age_outlasts_an_express_run_started_by_another_express_run():
    # The fan-out (Express, 5 min) may start the run in charge of a row it wrote up to
    # 5 minutes later, and that run lives 5 more minutes.
    assert STALE > timedelta(minutes=10)


def subscription(types: list[str], *, created: timedelta,
                 status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> Subscription:
    return Subscription(id=f"sub_{len(types)}_{created.seconds}_{status.value}", tenant="acme",
                        url="https://example.com", event_types=types, status=status,
                        created_at=NOW - created, updated_at=NOW - created)


def test_an_event_misses_the_active_matching_subscriptions_older_than_it_without_a_row():
    event_at = NOW - timedelta(minutes=20)
    expected = subscription(["order.*"], created=timedelta(hours=1))
    present = subscription(["*"], created=timedelta(hours=2))
    others = [subscription(["invoice.*"], created=timedelta(hours=1)),  # another type
              subscription(["*"], created=timedelta(minutes=10)),  # created after the event
              subscription(["*"], created=timedelta(hours=3),
                           status=SubscriptionStatus.PAUSED),
              subscription(["*"], created=timedelta(hours=4),
                           status=SubscriptionStatus.DISABLED)]
    missing = missing_subscriptions("order.created", event_at, [expected, present, *others],
                                    {present.id})
    assert missing == [expected]


def test_restarts_are_bucketed_by_five_minutes():
    assert restart_bucket(datetime(2026, 12, 6, 10, 7, 59, tzinfo=UTC)) == "2026-12-06T10:05"
    assert buckets_between(datetime(2026, 12, 6, 10, 4, 59, tzinfo=UTC),
                           datetime(2026, 12, 6, 10, 10, 0, tzinfo=UTC)) == [
        "2026-12-06T10:00", "2026-12-06T10:05", "2026-12-06T10:10"]


def test_a_window_holds_every_sort_key_of_its_bounds_instants():
    at = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    key = f"{at.isoformat()}#evt_01"
    assert window_key(at) <= key <= window_key(at, end=True)
    later = f"{(at + timedelta(microseconds=1)).isoformat()}#evt_01"
    assert window_key(at, end=True) < later


def test_the_local_time_scale_shortens_the_workflow_times_not_the_first_look_back():
    settings = Settings(table_name="t", idempotency_table_name="i", dead_letter_queue_url="q",
                        ingest_state_machine_arn=f"{ARN}:stateMachine:stepwire-ingest",
                        notification_state_machine_arn=f"{ARN}:stateMachine:"
                                                       "stepwire-notification",
                        recovery_state_machine_arn=f"{ARN}:stateMachine:stepwire-recovery",
                        data_key_secret_id="d", jwt_secret_id="j", time_scale=0.01)
    config = ReconcileConfig.from_settings(settings)
    assert config.stale_after == timedelta(seconds=6.6)
    assert config.overlap == timedelta(seconds=0.6)
    assert config.first_lookback == timedelta(hours=1)
    assert config.targets.express_machines == EXPRESS
