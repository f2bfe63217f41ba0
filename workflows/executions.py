"""Starting workflow executions from the API: always named, so a repeat start is idempotent."""

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows.ids import execution_name, new_id
from workflows.models import NotificationStatus, NotificationTarget
from workflows.store import Store


class StartedExecution(BaseModel):
    execution_arn: str
    start_date: datetime
    input: dict[str, Any]
    already_existed: bool


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:…:stateMachine:<machine> → arn:…:execution:<machine>:<name>."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def start_named(sfn: Any, state_machine_arn: str, name: str,
                payload: dict[str, Any]) -> StartedExecution:
    """Start `name`; if it exists already, describe the existing one instead."""
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name,
                                      input=json.dumps(payload, separators=(",", ":")))
        return StartedExecution(execution_arn=started["executionArn"],
                                start_date=started["startDate"], input=payload,
                                already_existed=False)
    except sfn.exceptions.ExecutionAlreadyExists:
        existing = sfn.describe_execution(
            executionArn=execution_arn(state_machine_arn, name))
        return StartedExecution(execution_arn=existing["executionArn"],
                                start_date=existing["startDate"],
                                input=json.loads(existing.get("input") or "{}"),
                                already_existed=True)


def start_notification(sfn: Any, state_machine_arn: str, target: NotificationTarget) -> str:
    """A notification execution for `target` (its execution_name must be new): the ARN."""
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=target.execution_name,
        input=json.dumps({"notification": target.model_dump(mode="json")}, separators=(",", ":")))
    return started["executionArn"]


def restart_notification(sfn: Any, store: Store, state_machine_arn: str, *, tenant: str,
                         event_id: str, subscription_id: str, webhook_id: str,
                         reason: str) -> str:
    """A new execution of one notification (new name, the same webhook-id: receivers
    deduplicate). The notification is marked pending first: the execution may deliver, and
    mark it delivered, before StartExecution returns."""
    target = NotificationTarget(
        tenant=tenant, event_id=event_id, subscription_id=subscription_id,
        webhook_id=webhook_id,
        execution_name=execution_name(tenant, event_id, subscription_id, reason, new_id("r")))
    store.set_notification_status(target, NotificationStatus.PENDING,
                                  execution_arn=execution_arn(state_machine_arn,
                                                              target.execution_name))
    return start_notification(sfn, state_machine_arn, target)
