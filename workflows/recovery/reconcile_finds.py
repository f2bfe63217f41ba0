"""What the reconciler does with each item it examines: an event, a restart marker, a dead
letter, an endpoint in recovery. Each find is a fault survived: counted (`ReconcilerFound`, by
Kind), told (an activity line), and finished.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from workflows.delivery.executions import restart_notification
from workflows.ingest.fan_out import FanOutRequest
from workflows.kernel import activity, observability
from workflows.kernel.models import DeadLetter, NotificationStatus, Subscription
from workflows.kernel.observability import logger
from workflows.recovery.expiry import DeadLetterQueue
from workflows.recovery.reconcile_rules import ALIVE, Verdict, judge, missing_subscriptions
from workflows.storage import Store

RESTART_REASON = "reconcile"


class Kind(StrEnum):
    """What was found (the metric's dimension: a handful of values, never an id)."""

    EVENT_NOT_FANNED_OUT = "event_not_fanned_out"
    NOTIFICATION_ABANDONED = "notification_abandoned"
    RECOVERY_MISSING = "recovery_missing"
    DEAD_LETTER_NOT_QUEUED = "dead_letter_not_queued"
    # Not a find: an item the run could not examine (AWS failed, or the item is malformed);
    # counted on the same alarm, and the run goes on with the next one.
    NOT_EXAMINED = "not_examined"


class EnsureRecovery(Protocol):
    """Start the endpoint's recovery unless one lives (workflows/recovery/): True if started."""

    def __call__(self, tenant: str, subscription_id: str, *, store: Store, sfn: Any,
                 recovery_state_machine_arn: str) -> bool: ...


@dataclass(frozen=True)
class Targets:
    """Where the reconciler starts and sends things."""

    ingest_state_machine_arn: str
    notification_state_machine_arn: str
    recovery_state_machine_arn: str
    dead_letter_queue_url: str
    # Names of the Express machines (ingest, notification): their executions are never asked.
    express_machines: frozenset[str]


@dataclass
class Finder:
    store: Store
    sfn: Any
    sqs: Any
    targets: Targets
    ensure_recovery: EnsureRecovery
    now: datetime
    stale_after: timedelta
    run_id: str
    found: Counter[str] = field(default_factory=Counter)
    _subscriptions: dict[str, list[Subscription]] = field(default_factory=dict)

    def event(self, tenant: str, item: dict[str, Any]) -> None:
        """(a) An event whose fan-out never reached a subscription that should have it: its
        fan-out starts again (idempotent: only the missing rows are made, and it starts the
        notifications still pending). Then (b) for each of its notifications."""
        event_id = item["id"]
        rows = self.store.notification_rows(tenant, event_id)
        missing = missing_subscriptions(item["type"], datetime.fromisoformat(item["created_at"]),
                                        self._subscriptions_of(tenant),
                                        {row["subscription_id"] for row in rows})
        if missing:
            self._fan_out_again(tenant, item, len(missing))
        for row in rows:
            if missing and row.get("status") == NotificationStatus.PENDING.value:
                continue  # the fan-out started again starts these
            self.notification(tenant, event_id, row)

    def marker(self, item: dict[str, Any]) -> None:
        """A notification restarted in the window (replay, redrive, release, reconcile), or an
        event whose fan-out this reconciler started again: judged again as if new."""
        tenant, event_id = item["tenant"], item["event_id"]
        if "subscription_id" not in item:
            if self.now - datetime.fromisoformat(item["restarted_at"]) >= self.stale_after:
                self.event(tenant, {"id": event_id, "type": item["type"],
                                    "created_at": item["created_at"]})
            return  # younger: its run may be alive; a later window reads this bucket again
        row = self.store.notification_row(tenant, event_id, item["subscription_id"])
        if row is not None:
            self.notification(tenant, event_id, row)

    def notification(self, tenant: str, event_id: str, row: dict[str, Any]) -> None:
        """(b) `pending` or `delivering`, stale, and no live execution: restart it (a new
        execution, the same webhook-id)."""
        verdict = judge(row, self.now, self.stale_after, self.targets.express_machines)
        if verdict is Verdict.ASK:
            verdict = Verdict.FRESH if self._running(row["execution_arn"]) \
                else Verdict.ABANDONED
        if verdict is not Verdict.ABANDONED:
            return
        if restart_notification(self.sfn, self.store,
                                self.targets.notification_state_machine_arn, tenant=tenant,
                                event_id=event_id, subscription_id=row["subscription_id"],
                                webhook_id=row["webhook_id"], reason=RESTART_REASON,
                                if_updated_at=row.get("updated_at")) is None:
            return  # written since it was read: alive after all
        self._found(Kind.NOTIFICATION_ABANDONED,
                    f"event {event_id} to {row['subscription_id']} was {row['status']} since "
                    f"{row.get('updated_at')} with no live execution",
                    "restarted with the same webhook-id", tenant=tenant, event_id=event_id,
                    subscription_id=row["subscription_id"])

    def dead_letter(self, tenant: str, item: dict[str, Any]) -> None:
        """(d) A dead letter the table has and the queue may not: sent (the body the workflows
        send), then marked queued."""
        letter = DeadLetter.model_validate(item)
        DeadLetterQueue(self.sqs, self.targets.dead_letter_queue_url).send([letter])
        self.store.mark_dead_letter_queued(tenant, letter.event_id, letter.subscription_id,
                                           item["position"], self.now)
        self._found(Kind.DEAD_LETTER_NOT_QUEUED,
                    f"the dead letter of event {letter.event_id} to {letter.subscription_id} "
                    "was never marked queued", "sent to the dead-letter queue",
                    tenant=tenant, event_id=letter.event_id,
                    subscription_id=letter.subscription_id)

    def endpoint(self, tenant: str, item: dict[str, Any]) -> None:
        """(c) An endpoint in recovery (breaker not closed, or a recovery still named): its
        parked notifications need a live recovery execution."""
        subscription_id = item["subscription_id"]
        if self.ensure_recovery(tenant, subscription_id, store=self.store, sfn=self.sfn,
                                recovery_state_machine_arn=self.targets
                                .recovery_state_machine_arn):
            self._found(Kind.RECOVERY_MISSING,
                        f"the endpoint of {subscription_id} had no live recovery execution",
                        "started one", tenant=tenant, subscription_id=subscription_id)

    def _fan_out_again(self, tenant: str, event: dict[str, Any], missing: int) -> None:
        # The ingest workflow from its first page, marked first: it is an Express run too, and
        # its event's window is behind us. Express names are not unique, the name only finds
        # the run in the logs.
        event_id = event["id"]
        self.store.mark_fan_out_restart(tenant, event_id, event["type"],
                                        datetime.fromisoformat(event["created_at"]), self.now)
        digest = hashlib.sha256(f"{tenant}\x00{event_id}\x00{self.run_id}".encode()).hexdigest()
        self.sfn.start_execution(
            stateMachineArn=self.targets.ingest_state_machine_arn,
            name=f"{RESTART_REASON}-{digest[:64]}",
            input=json.dumps(FanOutRequest(tenant=tenant, event_id=event_id).model_dump(
                mode="json"), separators=(",", ":")))
        self._found(Kind.EVENT_NOT_FANNED_OUT,
                    f"event {event_id} has no notification for {missing} matching "
                    f"subscription{'s' if missing != 1 else ''}",
                    "its fan-out started again", tenant=tenant, event_id=event_id)

    def _subscriptions_of(self, tenant: str) -> list[Subscription]:
        if tenant not in self._subscriptions:
            self._subscriptions[tenant] = self.store.list_subscriptions(tenant)
        return self._subscriptions[tenant]

    def _running(self, execution_arn: str) -> bool:
        try:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return False  # e.g. a hand-off recorded the long tail, then died before starting it
        return bool(status == ALIVE)

    def failed(self, item: dict[str, Any]) -> None:
        """An item whose examination raised: logged, counted, skipped (one bad item must not
        stop every run after it)."""
        logger.exception("the reconciler could not examine an item",
                         extra={"item": {k: str(v)[:200] for k, v in item.items()}})
        self.found[Kind.NOT_EXAMINED.value] += 1
        observability.reconciler_found(Kind.NOT_EXAMINED.value)

    def _found(self, kind: Kind, what: str, action: str, **ids: str) -> None:
        self.found[kind.value] += 1
        observability.reconciler_found(kind.value)
        activity.reconciled(kind=kind.value, what=what, action=action, **ids)
