"""Notifications (one event to one subscription) and their attempt log.

A notification's row is also what restarts it: tenant, event, subscription and webhook-id are
the whole input of a notification execution (replay and redrive start from it). Each attempt row
names the execution that made it; Express executions have no history to ask later. A delivered
attempt is kept on the notification's row itself, written with the status in one UpdateItem.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from workflows.delivery.breaker import EndpointHealth
from workflows.kernel.models import (
    Attempt,
    Event,
    NotificationStatus,
    NotificationTarget,
    RecordedWait,
    Subscription,
    utc_now,
)
from workflows.storage import table
from workflows.storage.endpoint_health import health_of
from workflows.storage.events import event_of
from workflows.storage.items import (
    DELIVERED_AT,
    DELIVERED_ATTEMPTS,
    STATUS,
    TableAccess,
    event_key,
    from_item,
    tenant_key,
    to_item,
)
from workflows.storage.subscriptions import active_secrets

LEASE_UNTIL = "lease_until"
# When the next attempt is due and why, as the workflows' Record* states write it (the ASL
# names it too: a unit test ties the two).
NEXT_ATTEMPT = "next_attempt"


def delivered_attempts(row: dict[str, Any]) -> list[Attempt]:
    """The attempts kept on a notification's row (those that delivered it)."""
    return [Attempt.model_validate(attempt) for attempt in row.get(DELIVERED_ATTEMPTS, [])]


class Claim(StrEnum):
    """What `claim_attempt` found."""

    CLAIMED = "claimed"  # this execution may attempt now
    DELIVERED = "delivered"  # already delivered: never again (Express runs at least once)
    HELD = "held"  # another execution is attempting it right now


class NotificationStore(TableAccess):
    def get_for_delivery(self, tenant: str, event_id: str, subscription_id: str
                         ) -> tuple[Event | None, Subscription | None, list[str], EndpointHealth]:
        """The event, the subscription, its signing secrets and its endpoint's health, in one
        BatchGetItem."""
        subscription_sk = table.subscription_key(subscription_id)
        health_sk = table.endpoint_health_key(subscription_id)
        request = {self._table: {"Keys": [event_key(tenant, event_id),
                                          tenant_key(tenant, subscription_sk),
                                          tenant_key(tenant, health_sk)],
                                 "ConsistentRead": True}}
        items: dict[str, dict[str, Any]] = {}
        while request:
            page = self._db.batch_get_item(RequestItems=request)
            for raw in page["Responses"].get(self._table, []):
                item = from_item(raw)
                items[item[table.SORT_KEY]] = item
            request = page.get("UnprocessedKeys")
        event_item, subscription_item = items.get(table.EVENT_SORT_KEY), items.get(subscription_sk)
        return (event_of(event_item) if event_item else None,
                Subscription.model_validate(subscription_item) if subscription_item else None,
                [s.value for s in active_secrets(self._data_key, subscription_item)],
                health_of(items.get(health_sk)))

    def create_notifications(self, targets: Iterable[NotificationTarget],
                             restart_pending_after: timedelta = timedelta(minutes=2)
                             ) -> list[NotificationTarget]:
        """One pending row per target, unless it exists: a re-run fan-out (Express runs at least
        once) must not turn a delivered notification back into a pending one. Returns the
        targets to start: the new rows, and those still pending since longer than
        `restart_pending_after` (their start was lost; a younger one may be on its way, and a
        second execution of it would only add a duplicate)."""
        now = utc_now()
        to_start = []
        for target in targets:
            try:
                self._db.put_item(
                    TableName=self._table, Item=to_item({
                        table.PARTITION_KEY: table.event_partition(target.tenant,
                                                                   target.event_id),
                        table.SORT_KEY: table.notification_key(target.subscription_id),
                        table.TTL_ATTRIBUTE: self._expires_at(now),
                        "tenant": target.tenant, "event_id": target.event_id,
                        "subscription_id": target.subscription_id,
                        "webhook_id": target.webhook_id,
                        STATUS: NotificationStatus.PENDING.value, "updated_at": now.isoformat(),
                    }),
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
                to_start.append(target)
            except self._db.exceptions.ConditionalCheckFailedException as exc:
                old = from_item(exc.response["Item"]) if exc.response.get("Item") else {}
                if old.get(STATUS) == NotificationStatus.PENDING.value and \
                        datetime.fromisoformat(old["updated_at"]) < now - restart_pending_after:
                    to_start.append(target)
        return to_start

    def claim_attempt(self, target: NotificationTarget, execution_arn: str,
                      lease_seconds: int) -> Claim:
        """Mark the notification `delivering` by this execution for one attempt (a lease of
        `lease_seconds`), unless it is delivered or another execution holds a live lease.
        One conditional write; it is also the status write of the attempt."""
        now = int(utc_now().timestamp())
        try:
            self._db.update_item(
                TableName=self._table, Key=self.notification_key(target),
                # The attempt starts: the wait recorded before it is over.
                UpdateExpression="SET #s = :delivering, execution_arn = :me, #lease = :until, "
                                 f"updated_at = :now_iso REMOVE {NEXT_ATTEMPT}",
                ConditionExpression="(attribute_not_exists(#s) OR #s <> :delivered) AND "
                                    "(attribute_not_exists(#lease) OR #lease < :now "
                                    "OR execution_arn = :me)",
                ExpressionAttributeNames={"#s": STATUS, "#lease": LEASE_UNTIL},
                ExpressionAttributeValues=to_item({
                    ":delivering": NotificationStatus.DELIVERING.value,
                    ":delivered": NotificationStatus.DELIVERED.value, ":me": execution_arn,
                    ":until": now + lease_seconds, ":now": now,
                    ":now_iso": utc_now().isoformat()}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return Claim.CLAIMED
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            found = exc.response.get("Item")
            current = from_item(found) if found else self._get(self.notification_key(target))
            delivered = (current or {}).get(STATUS) == NotificationStatus.DELIVERED.value
            return Claim.DELIVERED if delivered else Claim.HELD

    def record_attempt(self, target: NotificationTarget, attempt: Attempt) -> None:
        """One attempt row (append-only; the status was written by `claim_attempt`)."""
        self._db.put_item(TableName=self._table, Item=to_item({
            table.PARTITION_KEY: table.event_partition(target.tenant, target.event_id),
            table.SORT_KEY: table.attempt_key(target.subscription_id, attempt.at.isoformat()),
            table.TTL_ATTRIBUTE: self._expires_at(attempt.at),
            "event_id": target.event_id, "subscription_id": target.subscription_id,
            **attempt.model_dump(mode="json"),
        }))

    def mark_delivered(self, target: NotificationTarget, attempt: Attempt) -> None:
        """The notification delivered, with the attempt that delivered it, in one UpdateItem:
        no later write can fail between the 2xx and the status. A repeat of the same write
        (the SDK retrying one that was applied) finds it delivered and adds nothing."""
        try:
            self._db.update_item(
                TableName=self._table, Key=self.notification_key(target),
                UpdateExpression=f"SET #s = :delivered, {DELIVERED_AT} = :at, updated_at = :at, "
                                 "#d = list_append(if_not_exists(#d, :none), :attempt) "
                                 f"REMOVE #lease, {NEXT_ATTEMPT}",
                ConditionExpression="attribute_not_exists(#s) OR #s <> :delivered",
                ExpressionAttributeNames={"#s": STATUS, "#d": DELIVERED_ATTEMPTS,
                                          "#lease": LEASE_UNTIL},
                ExpressionAttributeValues=to_item({
                    ":delivered": NotificationStatus.DELIVERED.value,
                    ":at": attempt.at.isoformat(),
                    ":none": [], ":attempt": [attempt.model_dump(mode="json")]}))
        except self._db.exceptions.ConditionalCheckFailedException:
            pass  # delivered already: by this very write, retried

    def attempts_of(self, target: NotificationTarget) -> list[Attempt]:
        """The notification's attempt log, oldest first: its attempt rows and the attempts
        kept on its row, from one query."""
        row_key = table.notification_key(target.subscription_id)
        prefix = table.attempt_key(target.subscription_id, "")
        attempts = []
        for item in self._query_prefix(table.event_partition(target.tenant, target.event_id),
                                       row_key):
            if item[table.SORT_KEY] == row_key:
                attempts += delivered_attempts(item)
            elif item[table.SORT_KEY].startswith(prefix):
                attempts.append(Attempt.model_validate(item))
        return sorted(attempts, key=lambda attempt: attempt.at)

    def set_notification_status(self, target: NotificationTarget, status: NotificationStatus,
                                execution_arn: str | None = None,
                                if_updated_at: str | None = None,
                                unless_delivered: bool = False) -> bool:
        """Set the status (and the execution now in charge). Back to `pending` (a replay, a
        redrive) also ends any attempt lease, so the new execution may attempt at once. A
        hand-off keeps it: the lease now names the long tail, so a repeated run of the fast
        execution (Express runs at least once) is held off while the tail is in charge.
        `if_updated_at`: only if the row was not written since (False, and nothing written,
        when it was: whoever wrote it is alive). `unless_delivered`: False, and nothing
        written, when it is delivered."""
        values = {":s": status.value, ":now": utc_now().isoformat()}
        update = "SET #s = :s, updated_at = :now"
        if execution_arn:
            update += ", execution_arn = :arn"
            values[":arn"] = execution_arn
        names = {"#s": STATUS}
        update += f" REMOVE {NEXT_ATTEMPT}"  # whatever comes next, that wait is not it
        if status is NotificationStatus.PENDING:
            update += ", #lease"
            names["#lease"] = LEASE_UNTIL
        conditions = []
        if if_updated_at is not None:
            conditions.append("updated_at = :judged")
            values[":judged"] = if_updated_at
        if unless_delivered:
            conditions.append("#s <> :delivered")
            values[":delivered"] = NotificationStatus.DELIVERED.value
        condition = {"ConditionExpression": " AND ".join(conditions)} if conditions else {}
        try:
            self._db.update_item(TableName=self._table, Key=self.notification_key(target),
                                 UpdateExpression=update, ExpressionAttributeNames=names,
                                 ExpressionAttributeValues=to_item(values), **condition)
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_wait(self, target: NotificationTarget, wait: RecordedWait) -> None:
        """When the next attempt is due and why, for a wait a handler decides (the workflows'
        Record* states write the same attribute for the waits they decide)."""
        try:
            self._db.update_item(TableName=self._table, Key=self.notification_key(target),
                                 UpdateExpression=f"SET {NEXT_ATTEMPT} = :next",
                                 ConditionExpression="attribute_exists(#pk)",
                                 ExpressionAttributeNames={"#pk": table.PARTITION_KEY},
                                 ExpressionAttributeValues=to_item({":next": {
                                     "decided_at": wait.decided_at.isoformat(),
                                     "wait_seconds": Decimal(str(wait.wait_seconds)),
                                     "reason": wait.reason.value}}))
        except self._db.exceptions.ConditionalCheckFailedException:
            pass  # the row is gone (retention): nothing to show, and no bare item made

    def set_execution_arn(self, target: NotificationTarget, execution_arn: str) -> None:
        self._db.update_item(TableName=self._table, Key=self.notification_key(target),
                             UpdateExpression="SET execution_arn = :arn",
                             ExpressionAttributeValues=to_item({":arn": execution_arn}))

    def get_notification(self, tenant: str, event_id: str,
                         subscription_id: str) -> dict[str, Any] | None:
        return self._get(event_key(tenant, event_id, table.notification_key(subscription_id)))

    @staticmethod
    def notification_key(target: NotificationTarget) -> dict:
        """The notification's key in DynamoDB JSON, as the Record* states use it (from a
        Delivery.Retryable report)."""
        return event_key(target.tenant, target.event_id,
                         table.notification_key(target.subscription_id))

    def notification_statuses(self, tenant: str, event_id: str) -> list[str]:
        items = self._query_prefix(table.event_partition(tenant, event_id),
                                   table.NOTIFICATION_PREFIX, projection=("sk", STATUS))
        return [i[STATUS] for i in items if table.ATTEMPT_INFIX not in i["sk"]]
