"""Redrive against emulated DynamoDB, with a Step Functions client whose StartExecution fails
for one notification: the new execution starts before the dead letter is removed, so a start
that fails leaves the dead letter in place, the notification failed, and the answer says so."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from workflows.delivery.failure import record_failure
from workflows.kernel.ids import new_id
from workflows.kernel.models import FailureReport, NotificationStatus, NotificationTarget
from workflows.operations.dead_letters import RedriveRequest, redrive
from workflows.storage import Store

pytestmark = pytest.mark.functional

MACHINE = "arn:aws:states:us-east-1:1:stateMachine:n"


class StartExecutionFaults:
    """A Step Functions client whose StartExecution is throttled for the notifications of the
    events in `failing`, and answers for the others (recording their input)."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.started: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if json.loads(input)["notification"]["event_id"] in self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException",
                                         "Message": "Rate exceeded"}}, "StartExecution")
        self.started.append(json.loads(input)["notification"]["event_id"])
        return {"executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"}


def dead_lettered(store: Store, tenant: str) -> NotificationTarget:
    """One notification that ended in the dead letters, as RecordFailure leaves it."""
    target = NotificationTarget(tenant=tenant, event_id=new_id("evt"),
                                subscription_id=new_id("sub"), webhook_id=new_id("msg"),
                                execution_name=new_id("exec"))
    store.create_notifications([target])
    record_failure(FailureReport(notification=target, error="Delivery.Permanent",
                                 cause="HTTP 400", execution_arn=f"{MACHINE}:x"), store=store)
    return target


def dead_letter_ids(store: Store, tenant: str) -> set[str]:
    page, _ = store.dead_letters_page(tenant, since="0", page_size=100, after=None)
    return {item["event_id"] for item in page}


def status_of(store: Store, target: NotificationTarget) -> str:
    row = store.get_notification(target.tenant, target.event_id, target.subscription_id)
    assert row is not None
    return row["status"]


def test_a_start_that_fails_leaves_the_dead_letter_and_is_reported(store: Store) -> None:
    # Given two dead letters, and StartExecution throttled for the first one's notification
    tenant = new_id("tenant")
    throttled, started = dead_lettered(store, tenant), dead_lettered(store, tenant)
    sfn = StartExecutionFaults({throttled.event_id})

    # When the tenant redrives them
    result = redrive(tenant, RedriveRequest(), store=store, sfn=sfn,
                     notification_state_machine_arn=MACHINE)

    # Then one is redriven and one reported as not started
    assert (result.redriven, result.not_started) == (1, 1)
    assert result.model_dump(mode="json") == {"redriven": 1, "not_started": 1}
    assert sfn.started == [started.event_id]
    # and the one that did not start is still a dead letter, its notification still failed
    assert dead_letter_ids(store, tenant) == {throttled.event_id}
    assert status_of(store, throttled) == NotificationStatus.FAILED.value
    assert status_of(store, started) == NotificationStatus.PENDING.value

    # When StartExecution answers again and the tenant redrives once more
    sfn.failing.clear()
    again = redrive(tenant, RedriveRequest(), store=store, sfn=sfn,
                    notification_state_machine_arn=MACHINE)

    # Then the rest is redriven, and the answer is the plain count again
    assert again.model_dump(mode="json") == {"redriven": 1}
    assert dead_letter_ids(store, tenant) == set()
    assert status_of(store, throttled) == NotificationStatus.PENDING.value


def test_a_started_redrive_whose_dead_letter_cannot_be_removed_counts_as_redriven(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a dead letter, and DynamoDB throttling its removal
    tenant = new_id("tenant")
    target = dead_lettered(store, tenant)
    sfn = StartExecutionFaults(set())

    def throttled(*_args: Any, **_kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}},
                          "DeleteItem")

    monkeypatch.setattr(type(store), "delete_dead_letter", throttled)

    # When the tenant redrives it
    result = redrive(tenant, RedriveRequest(), store=store, sfn=sfn,
                     notification_state_machine_arn=MACHINE)

    # Then it started and says so (not an error that would have it started twice)
    assert result.model_dump(mode="json") == {"redriven": 1}
    assert sfn.started == [target.event_id]
