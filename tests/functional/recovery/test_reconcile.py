"""The reconciler against emulated DynamoDB, Step Functions and SQS: each kind of find, (a) to
(d), and its checkpoint. The state machines exist but do not run (moto's default): a start only
records the execution, so what the reconciler started is read back from them."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdas import handle_reconcile
from stepwire.host.lambda_host import LambdaContext
from stepwire.host.provision import Resources
from tests.functional.api.api_harness import REGION, emulated_aws
from workflows import wiring
from workflows.delivery.breaker import recovery_name
from workflows.delivery.executions import (
    execution_arn,
    restart_notification,
    start_notification,
)
from workflows.delivery.target_guard import TargetPolicy
from workflows.kernel import observability
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import (
    DeadLetter,
    Event,
    NotificationStatus,
    NotificationTarget,
    SigningSecret,
    Subscription,
    SubscriptionStatus,
    utc_now,
)
from workflows.kernel.settings import get_settings
from workflows.operations.subscriptions import NewSubscription, create_subscription
from workflows.recovery.reconcile import ReconcileConfig, RunReport, reconcile
from workflows.storage import Store, table
from workflows.storage.items import key, to_item
from workflows.storage.restart_markers import restart_bucket

pytestmark = pytest.mark.functional

LOCAL = TargetPolicy(allow_private=True, require_https=False)
EVENT_AGE = timedelta(minutes=20)  # inside the first window: past the stale age, within an hour


@dataclass
class Cloud:
    resources: Resources
    # (tenant, subscription id) of every ensure_live_recovery call; `started` answers it.
    recovery_calls: list[tuple[str, str]] = field(default_factory=list)
    started: bool = True
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return wiring.store()

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def ensure_recovery(self, tenant: str, subscription_id: str, *, store: Store, sfn: Any,
                        recovery_state_machine_arn: str) -> bool:
        assert recovery_state_machine_arn == self.resources.state_machine_arns["recovery"]
        self.recovery_calls.append((tenant, subscription_id))
        return self.started

    def run(self, now: datetime | None = None, **config: Any) -> RunReport:
        settings = ReconcileConfig.from_settings(get_settings())
        chosen = ReconcileConfig(**{**settings.__dict__, **config})
        return reconcile(store=self.store, sfn=self.client("stepfunctions"),
                         sqs=self.client("sqs"), config=chosen,
                         ensure_recovery=self.ensure_recovery, now=now)

    def executions(self, machine: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        return [sfn.describe_execution(executionArn=e["executionArn"]) for e in
                sfn.list_executions(stateMachineArn=self.resources.state_machine_arns[machine])
                ["executions"]]

    def found(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for record in self.metrics:
            if "Kind" in record and "ReconcilerFound" in record:
                counted[record["Kind"]] = counted.get(record["Kind"], 0) + 1
        return counted


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with emulated_aws() as resources:
        running = Cloud(resources)
        observability.set_metrics_sink(running.metrics.append)
        try:
            yield running
        finally:
            observability.set_metrics_sink(None)


def subscribe(cloud: Cloud, tenant: str, *, types: tuple[str, ...] = ("*",),
              age: timedelta = timedelta(hours=2),
              status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> Subscription:
    at = utc_now() - age
    subscription = Subscription(id=new_id("sub"), tenant=tenant, url="https://example.com/h",
                                event_types=list(types), status=status, created_at=at,
                                updated_at=at)
    cloud.store.register_tenant(tenant)
    cloud.store.put_subscription(subscription, [SigningSecret(value="whsec_dGVzdA==")])
    return subscription


def publish(cloud: Cloud, tenant: str, *, age: timedelta = EVENT_AGE,
            event_type: str = "order.created") -> Event:
    event = Event(id=new_id("evt"), tenant=tenant, type=event_type, data={"n": 1},
                  created_at=utc_now() - age)
    assert cloud.store.put_event_if_new(event, "publisher") == "publisher"
    return event


def notify(cloud: Cloud, event: Event, subscription: Subscription, *,
           status: NotificationStatus = NotificationStatus.PENDING,
           age: timedelta = EVENT_AGE, **fields: Any) -> NotificationTarget:
    """A notification row as the fan-out (and its executions) left it, last written `age` ago."""
    target = NotificationTarget(
        tenant=event.tenant, event_id=event.id, subscription_id=subscription.id,
        webhook_id=webhook_id(event.tenant, event.id, subscription.id),
        execution_name=execution_name(event.id, subscription.id))
    cloud.store.create_notifications([target])
    values = {":s": status.value, ":at": (utc_now() - age).isoformat(), **{
        f":{name}": value for name, value in fields.items()}}
    update = "SET #s = :s, updated_at = :at" + "".join(f", {name} = :{name}" for name in fields)
    cloud.client("dynamodb").update_item(
        TableName=cloud.resources.table_name, Key=cloud.store.notification_key(target),
        UpdateExpression=update, ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=to_item(values))
    return target


def notification_input(execution: dict[str, Any]) -> dict[str, Any]:
    return json.loads(execution["input"])["notification"]


# --- what the reconciler reads: the tenant registry, restart markers ------------------------

def test_a_tenant_is_registered_by_its_first_subscription_once(cloud):
    tenant = new_id("t")
    for _ in range(2):
        create_subscription(tenant, NewSubscription(url="http://127.0.0.1:9/h",
                                                    event_types=["*"]),
                            store=cloud.store, policy=LOCAL)
    assert cloud.store.registered_tenants().count(tenant) == 1


def test_only_a_restart_leaves_a_marker_not_the_fan_out(cloud):
    # Given an event's notification started by its fan-out, then restarted (a replay)
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    target = notify(cloud, event, subscription, age=timedelta(0))
    sfn, machine = cloud.client("stepfunctions"), cloud.resources.notification_state_machine_arn
    start_notification(sfn, machine, target)
    assert cloud.store.restart_markers(restart_bucket(utc_now()), None, 10)[0] == []

    restart_notification(sfn, cloud.store, machine, tenant=tenant, event_id=event.id,
                         subscription_id=subscription.id, webhook_id=target.webhook_id,
                         reason="replay")

    # Then only the restart is marked, in the bucket of now
    [marker] = cloud.store.restart_markers(restart_bucket(utc_now()), None, 10)[0]
    assert (marker["tenant"], marker["event_id"], marker["subscription_id"]) == (
        tenant, event.id, subscription.id)


# --- (a) events stored but not fully fanned out ---------------------------------------------

def test_an_event_its_fan_out_never_reached_a_subscription_of_is_fanned_out_again(cloud):
    # Given an event whose fan-out made the row of one matching subscription, not another's
    tenant = new_id("t")
    reached = subscribe(cloud, tenant)
    missed = subscribe(cloud, tenant, types=("order.*",))
    # ... and subscriptions that never expected it: paused, another type, created after it
    subscribe(cloud, tenant, status=SubscriptionStatus.PAUSED)
    subscribe(cloud, tenant, types=("invoice.*",))
    subscribe(cloud, tenant, age=EVENT_AGE / 2)
    event = publish(cloud, tenant)
    notify(cloud, event, reached, status=NotificationStatus.DELIVERED)

    # When the reconciler runs
    report = cloud.run()

    # Then the ingest workflow starts again for that event, from its first page, once
    [ingest] = cloud.executions("ingest")
    assert json.loads(ingest["input"]) == {"tenant": tenant, "event_id": event.id, "after": None,
                                           "restart_pending": False, "pages": 0}
    assert ingest["name"].startswith("reconcile-")
    assert report.found == {"event_not_fanned_out": 1} == cloud.found()
    assert missed.id not in {n["subscription_id"] for n in
                             cloud.store.notification_rows(tenant, event.id)}


def test_a_fan_out_started_again_that_dies_too_is_found_again_by_its_marker(cloud):
    # Given an event whose fan-out the reconciler started again, which died as well (the
    # machines here do not run: its rows never come)
    tenant = new_id("t")
    subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    now = utc_now()
    assert cloud.run(now=now).found == {"event_not_fanned_out": 1}
    stale_after = ReconcileConfig.from_settings(get_settings()).stale_after

    # When the next runs come: one while that fan-out may still run, one after
    sooner = cloud.run(now=now + stale_after / 2)
    later = cloud.run(now=now + stale_after + timedelta(seconds=1))

    # Then only the later one starts it again
    assert sooner.found == {} and later.found == {"event_not_fanned_out": 1}
    assert [json.loads(e["input"])["event_id"] for e in cloud.executions("ingest")] == [
        event.id, event.id]


def test_an_event_whose_notifications_all_exist_is_left_alone(cloud):
    tenant = new_id("t")
    first, second = subscribe(cloud, tenant), subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    for subscription in (first, second):
        notify(cloud, event, subscription, status=NotificationStatus.DELIVERED)

    report = cloud.run()

    assert cloud.executions("ingest") == [] and cloud.executions("notification") == []
    assert report.outcome == "done" and report.examined == 1 and report.found == {}


# --- (b) notifications pending or delivering, stale, with no live execution ----------------

def test_a_stale_notification_with_no_live_execution_is_restarted_with_its_webhook_id(cloud):
    # Given notifications left behind: pending with no execution, delivering by an Express
    # run, delivering by a long tail that never started
    tenant = new_id("t")
    subscriptions = [subscribe(cloud, tenant) for _ in range(3)]
    event = publish(cloud, tenant)
    express = execution_arn(cloud.resources.notification_state_machine_arn, "gone")
    tail = execution_arn(cloud.resources.state_machine_arns["long-tail"], "never-started")
    left = [notify(cloud, event, subscriptions[0]),
            notify(cloud, event, subscriptions[1], status=NotificationStatus.DELIVERING,
                   execution_arn=express),
            notify(cloud, event, subscriptions[2], status=NotificationStatus.DELIVERING,
                   execution_arn=tail)]

    report = cloud.run()

    # Then each runs again in a new execution with the same webhook-id, marked pending,
    # its new execution recorded, and a restart marker written for the next runs to check
    restarted = {notification_input(e)["subscription_id"]: e
                 for e in cloud.executions("notification")}
    assert set(restarted) == {s.id for s in subscriptions}
    for target in left:
        execution = restarted[target.subscription_id]
        assert notification_input(execution)["webhook_id"] == target.webhook_id
        assert notification_input(execution)["execution_name"] != target.execution_name
        row = cloud.store.get_notification(tenant, event.id, target.subscription_id)
        assert row is not None and row["status"] == "pending"
        assert row["execution_arn"] == execution["executionArn"]
    assert cloud.executions("ingest") == []
    assert report.found == {"notification_abandoned": 3} == cloud.found()
    markers, _ = cloud.store.restart_markers(restart_bucket(utc_now()), None, 10)
    assert {(m["tenant"], m["event_id"], m["subscription_id"]) for m in markers} == {
        (tenant, event.id, s.id) for s in subscriptions}


def test_what_an_execution_may_still_own_is_not_restarted(cloud):
    # Given notifications that live executions may still own
    tenant = new_id("t")
    subscriptions = [subscribe(cloud, tenant) for _ in range(5)]
    event = publish(cloud, tenant)
    sfn = cloud.client("stepfunctions")
    tail = sfn.start_execution(stateMachineArn=cloud.resources.state_machine_arns["long-tail"],
                               name=new_id("tail"), input="{}")["executionArn"]
    lease = int((utc_now() + timedelta(seconds=20)).timestamp())
    notify(cloud, event, subscriptions[0], age=timedelta(minutes=5))  # written lately
    notify(cloud, event, subscriptions[1], status=NotificationStatus.DELIVERING,
           lease_until=lease)  # an attempt under way
    notify(cloud, event, subscriptions[2], status=NotificationStatus.DELIVERING,
           execution_arn=tail)  # the long tail waits between attempts, RUNNING
    notify(cloud, event, subscriptions[3], status=NotificationStatus.DELIVERED)
    notify(cloud, event, subscriptions[4], status=NotificationStatus.PARKED)

    report = cloud.run()

    assert cloud.executions("notification") == [] and cloud.executions("ingest") == []
    assert report.found == {} and cloud.found() == {}


def test_a_restarted_notification_of_an_older_event_is_found_by_its_marker(cloud):
    # Given a notification of an event two hours old, restarted (a replay) 20 minutes ago by
    # an execution that died
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant, age=timedelta(hours=3))
    event = publish(cloud, tenant, age=timedelta(hours=2))
    dead = execution_arn(cloud.resources.notification_state_machine_arn, "replayed")
    target = notify(cloud, event, subscription, execution_arn=dead)
    cloud.store.mark_restart(tenant, event.id, subscription.id, utc_now() - EVENT_AGE)

    report = cloud.run()

    [execution] = cloud.executions("notification")
    assert notification_input(execution)["webhook_id"] == target.webhook_id
    assert report.found == {"notification_abandoned": 1}


# --- (c) endpoints whose parked notifications need a live recovery -------------------------

def test_every_endpoint_in_recovery_gets_a_live_recovery(cloud):
    # Given an endpoint whose breaker is open, one whose recovery closed the breaker but still
    # holds its name (it died releasing), and a healthy one
    tenant = new_id("t")
    opened, releasing, healthy = (subscribe(cloud, tenant) for _ in range(3))
    now = utc_now()
    for subscription in (opened, releasing, healthy):
        cloud.store.record_endpoint_failure(tenant, subscription.id, "HTTP 503", now,
                                            counts=True)
    for subscription in (opened, releasing):
        cloud.store.open_breaker(tenant, subscription.id, recovery_name(tenant, subscription.id),
                                 now)
    assert cloud.store.close_breaker(tenant, releasing.id)

    report = cloud.run()

    assert sorted(cloud.recovery_calls) == sorted([(tenant, opened.id), (tenant, releasing.id)])
    assert report.found == {"recovery_missing": 2}


def test_an_endpoint_whose_recovery_lives_is_not_a_find(cloud):
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant)
    cloud.store.record_endpoint_failure(tenant, subscription.id, "HTTP 503", utc_now(),
                                        counts=True)
    cloud.store.open_breaker(tenant, subscription.id, recovery_name(tenant, subscription.id),
                             utc_now())
    cloud.started = False

    report = cloud.run()

    assert cloud.recovery_calls == [(tenant, subscription.id)] and report.found == {}


# --- (d) dead letters missing from the queue ------------------------------------------------

def test_a_dead_letter_never_marked_queued_is_sent_once(cloud):
    # Given two dead letters 20 minutes old: one the workflow queued and marked, one not
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant)
    letters = [DeadLetter(tenant=tenant, event_id=new_id("evt"), subscription_id=subscription.id,
                          error="Delivery.Permanent", cause="HTTP 400 is not retried",
                          execution_arn="arn:aws:states:us-east-1:1:execution:n:x",
                          failed_at=utc_now() - EVENT_AGE) for _ in range(2)]
    for letter in letters:
        cloud.store.put_dead_letter(letter, "msg_1")
    queued = letters[1]
    cloud.client("dynamodb").update_item(
        TableName=cloud.resources.table_name,
        Key=key(table.tenant_key(tenant),
                table.dead_letter_key(queued.event_id, queued.subscription_id)),
        UpdateExpression="SET queued_at = :at",
        ExpressionAttributeValues=to_item({":at": utc_now().isoformat()}))

    # When the reconciler runs twice (the second window overlaps the first)
    first = cloud.run()
    second = cloud.run(now=utc_now() + timedelta(minutes=5))

    # Then the unmarked one is on the queue, with the body the workflows send, and marked
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=cloud.resources.dead_letter_queue_url,
                                   MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [letters[0].model_dump(mode="json")]
    [row] = [item for item in cloud.store.dead_letters_page(tenant, since="2000", page_size=10,
                                                             after=None)[0]
             if item["event_id"] == letters[0].event_id]
    assert "queued_at" in row
    assert first.found == {"dead_letter_not_queued": 1} and second.found == {}


# --- the checkpoint: windows, budget, one run at a time, failures ---------------------------

def test_the_checkpoint_moves_to_the_end_of_each_window_examined(cloud):
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    notify(cloud, event, subscription, status=NotificationStatus.DELIVERED)
    now = utc_now()
    config = ReconcileConfig.from_settings(get_settings())

    first = cloud.run(now=now)
    second = cloud.run(now=now + timedelta(minutes=5))

    assert first.window_until == now - config.stale_after
    assert first.window_since == now - config.first_lookback - config.overlap
    assert second.window_since == first.window_until - config.overlap
    assert (first.examined, second.examined) == (1, 0)  # the event, then nothing new


def test_a_run_stops_at_its_budget_and_the_next_goes_on_from_there(cloud):
    # Given five events each missing its notification
    tenant = new_id("t")
    subscribe(cloud, tenant)
    events = [publish(cloud, tenant, age=EVENT_AGE + timedelta(seconds=i)) for i in range(5)]
    now = utc_now()

    # When runs may examine two items each
    reports = [cloud.run(now=now + timedelta(seconds=i), max_items=2) for i in range(3)]

    # Then they share the window, in order, and each event is fanned out again exactly once
    assert [r.outcome for r in reports] == ["partial", "partial", "done"]
    assert {r.window_until for r in reports} == {reports[0].window_until}
    started = [json.loads(e["input"])["event_id"] for e in cloud.executions("ingest")]
    assert sorted(started) == sorted(e.id for e in events)


def test_one_run_at_a_time(cloud):
    # Given a run under way (its lease taken)
    assert cloud.store.take_reconciler_lease("other", utc_now(), 360) is not None

    # Then another one does nothing
    assert cloud.run().outcome == "busy"


def test_an_item_a_run_could_not_finish_is_examined_again_by_the_next(cloud, monkeypatch):
    tenant = new_id("t")
    subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    now = utc_now()
    sfn = cloud.client("stepfunctions")

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")

    monkeypatch.setattr(sfn, "start_execution", throttled)
    failed = reconcile(store=cloud.store, sfn=sfn, sqs=cloud.client("sqs"),
                       config=ReconcileConfig.from_settings(get_settings()),
                       ensure_recovery=cloud.ensure_recovery, now=now)
    # The item it could not finish is counted (on the alarm), and the window kept
    assert (failed.outcome, failed.found) == ("retry", {"not_examined": 1})

    retried = cloud.run(now=now + timedelta(minutes=5))

    assert retried.found == {"event_not_fanned_out": 1}
    [ingest] = cloud.executions("ingest")
    assert json.loads(ingest["input"])["event_id"] == event.id


# --- the Lambda entry point -----------------------------------------------------------------

def test_the_scheduled_function_runs_the_reconciler(cloud):
    # Given what dead executions left: an event not fanned out, a stale notification handed
    # to a long tail that does not exist, a dead letter never queued, an open breaker whose
    # recovery never started
    tenant = new_id("t")
    first, second = subscribe(cloud, tenant), subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    notify(cloud, event, first, status=NotificationStatus.DELIVERING,
           execution_arn=execution_arn(cloud.resources.state_machine_arns["long-tail"], "x"))
    cloud.store.put_dead_letter(DeadLetter(
        tenant=tenant, event_id=event.id, subscription_id=second.id, error="Delivery.Gone",
        cause="410", execution_arn="arn:aws:states:us-east-1:1:execution:n:y",
        failed_at=utc_now() - EVENT_AGE), "msg_2")
    cloud.store.record_endpoint_failure(tenant, second.id, "HTTP 503", utc_now(), counts=True)
    cloud.store.open_breaker(tenant, second.id, recovery_name(tenant, second.id), utc_now())

    # When the function runs on its schedule
    answer = handle_reconcile.lambda_handler(
        {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
        LambdaContext(function_name="stepwire-reconcile",
                      invoked_function_arn="arn:aws:lambda:us-east-1:1:function:r"))

    # Then it reports what it found and did
    assert answer["outcome"] == "done"
    assert answer["found"] == {"event_not_fanned_out": 1, "notification_abandoned": 1,
                               "dead_letter_not_queued": 1, "recovery_missing": 1}
    [recovery] = cloud.executions("recovery")
    assert json.loads(recovery["input"]) == {
        "endpoint": {"tenant": tenant, "subscription_id": second.id}}



def test_an_item_that_always_fails_holds_its_window_back_three_runs_at_most(cloud,
                                                                             monkeypatch):
    tenant = new_id("t")
    subscribe(cloud, tenant)
    publish(cloud, tenant)
    now = utc_now()
    sfn = cloud.client("stepfunctions")

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")

    monkeypatch.setattr(sfn, "start_execution", throttled)
    outcomes = [reconcile(store=cloud.store, sfn=sfn, sqs=cloud.client("sqs"),
                          config=ReconcileConfig.from_settings(get_settings()),
                          ensure_recovery=cloud.ensure_recovery,
                          now=now + timedelta(minutes=5 * n)).outcome for n in range(5)]

    # Three runs give the window another chance; the fourth moves on to later events
    assert outcomes[:4] == ["retry", "retry", "retry", "done"]


def test_a_notification_written_after_it_was_judged_is_not_restarted(cloud):
    # Given a notification the reconciler judged abandoned at its last write...
    tenant = new_id("t")
    subscription = subscribe(cloud, tenant)
    event = publish(cloud, tenant)
    target = NotificationTarget(tenant=tenant, event_id=event.id,
                                subscription_id=subscription.id,
                                webhook_id=webhook_id(tenant, event.id, subscription.id),
                                execution_name=new_id("x"))
    cloud.store.create_notifications([target])
    judged = cloud.store.get_notification(tenant, event.id, subscription.id)["updated_at"]
    # ... then delivered by an execution that was alive after all
    cloud.store.set_notification_status(target, NotificationStatus.DELIVERED)

    # When the reconciler restarts it on what it judged
    started = restart_notification(cloud.client("stepfunctions"), cloud.store,
                                   get_settings().notification_state_machine_arn,
                                   tenant=tenant, event_id=event.id,
                                   subscription_id=subscription.id,
                                   webhook_id=target.webhook_id, reason="reconcile",
                                   if_updated_at=judged)

    # Then nothing starts, and the notification stays delivered
    assert started is None
    row = cloud.store.get_notification(tenant, event.id, subscription.id)
    assert row["status"] == "delivered"
    assert cloud.executions("notification") == []
