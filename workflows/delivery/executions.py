"""Starting workflow executions from the API (always named: the name finds the run in the
logs; an Express name is not unique, so repeats are made harmless by the table)."""

import json
from typing import Any

from workflows.kernel.ids import execution_name, new_id
from workflows.kernel.models import NotificationStatus, NotificationTarget, utc_now
from workflows.storage import Store


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:…:stateMachine:<machine> → arn:…:execution:<machine>:<name>."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def start_notification(sfn: Any, state_machine_arn: str, target: NotificationTarget, *,
                       restart_markers: Store | None = None) -> str:
    """A notification execution for `target` (its execution_name must be new): the ARN.

    `restart_markers`: where to note a restart of an older event's notification for the
    reconciler, first (a start that fails leaves the note). None (the fan-out's own starts):
    no note, the reconciler finds those through their event."""
    if restart_markers is not None:
        restart_markers.mark_restart(target.tenant, target.event_id, target.subscription_id,
                                     utc_now())
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=target.execution_name,
        input=json.dumps({"notification": target.model_dump(mode="json")}, separators=(",", ":")))
    return started["executionArn"]


def restart_notification(sfn: Any, store: Store, state_machine_arn: str, *, tenant: str,
                         event_id: str, subscription_id: str, webhook_id: str,
                         reason: str, if_updated_at: str | None = None,
                         unless_delivered: bool = False) -> str | None:
    """A new execution of one notification, from its stored row (new name, the same
    webhook-id: receivers deduplicate). The notification is marked pending first (which ends any
    attempt lease): the execution may deliver, and mark it delivered, before StartExecution
    returns. Its ARN is recorded once known (an Express ARN cannot be derived from the name);
    each attempt records the ARN of the execution that made it, too. A restart marker lets the
    reconciler look at it again should this execution die too. `if_updated_at`: only if the
    row was not written since that time (the reconciler's judgment); None when it was.
    `unless_delivered`: None, and nothing started, when it is delivered (a release racing the
    probe that just delivered it)."""
    target = NotificationTarget(
        tenant=tenant, event_id=event_id, subscription_id=subscription_id,
        webhook_id=webhook_id,
        execution_name=execution_name(tenant, event_id, subscription_id, reason, new_id("r")))
    if not store.set_notification_status(target, NotificationStatus.PENDING,
                                         if_updated_at=if_updated_at,
                                         unless_delivered=unless_delivered):
        return None
    arn = start_notification(sfn, state_machine_arn, target, restart_markers=store)
    store.set_execution_arn(target, arn)
    return arn
