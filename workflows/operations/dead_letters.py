"""Dead letters: list a tenant's failed notifications, redrive them.

The SQS queue is the operators' feed of failures across tenants (alarms, retention, their own
tools); the table holds the same dead letter per tenant, written by RecordFailure, and is what
the API queries and redrives. A redrive starts a new notification execution per dead letter
(new name, the same webhook-id) and only then deletes the item: a start that fails leaves the
dead letter where it was, to be redriven again. It never reads the shared queue, so one
tenant's call cannot touch, hide or count another tenant's messages.
"""

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from workflows.delivery.executions import restart_notification
from workflows.kernel.models import (
    DeadLetterView,
    NotificationStatus,
    NotificationTarget,
    utc_iso,
)
from workflows.kernel.observability import logger
from workflows.operations import paging
from workflows.operations.cursor import CursorCodec
from workflows.storage import Store

# Dead letters restarted by one call (call again while `redriven` equals it): keeps a call
# well inside API Gateway's 29 s integration timeout.
REDRIVE_MAX = 100
_PAGE = 100
_PARALLEL = 8


class DeadLetterPage(BaseModel):
    items: list[DeadLetterView]
    next_cursor: str | None


class RedriveRequest(BaseModel):
    since: datetime | None = Field(default=None, description="only those that failed since")
    subscription_id: str | None = Field(default=None, max_length=64)


class RedriveResult(BaseModel):
    redriven: int
    # Shown only when some did not start: the answer stays `{redriven}` otherwise.
    not_started: int = Field(
        default=0, exclude_if=lambda count: count == 0,
        description="dead letters whose new execution could not be started: still listed, "
                    "redrive them again")


def list_dead_letters(tenant: str, limit: int, cursor: str | None, *, store: Store,
                      codec: CursorCodec, since: datetime | None = None,
                      subscription_id: str | None = None) -> DeadLetterPage:
    filters = {"since": utc_iso(since), "subscription_id": subscription_id}
    position = codec.decode(cursor, tenant, filters) if cursor else None
    items, position = paging.collect(
        lambda size, after: store.dead_letters_page(tenant, since=utc_iso(since) or "0",
                                                    page_size=size, after=after),
        lambda item: DeadLetterView.model_validate(item)
        if subscription_id is None or item["subscription_id"] == subscription_id else None,
        limit, position)
    next_cursor = codec.encode(tenant, filters, position) if position else None
    return DeadLetterPage(items=items, next_cursor=next_cursor)


def redrive(tenant: str, request: RedriveRequest, *, store: Store, sfn: Any,
            notification_state_machine_arn: str) -> RedriveResult:
    since = utc_iso(request.since) or "0"
    selected: list[dict[str, Any]] = []
    position = None
    while len(selected) < REDRIVE_MAX:
        page, position = store.dead_letters_page(tenant, since=since, page_size=_PAGE,
                                                 after=position)
        selected += [item for item in page if not request.subscription_id
                     or item["subscription_id"] == request.subscription_id]
        if position is None:
            break
    selected = selected[:REDRIVE_MAX]
    # A few at a time: each restart is three AWS calls; boto3 clients are thread-safe. Each
    # runs in a copy of this context, so the logger's and tracer's context follows it.
    caller = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        done = list(pool.map(lambda item: caller.copy().run(
            _restart, tenant, item, store=store, sfn=sfn,
            state_machine_arn=notification_state_machine_arn), selected))
    return RedriveResult(redriven=done.count(_Restart.REDRIVEN),
                         not_started=done.count(_Restart.NOT_STARTED))


class _Restart(StrEnum):
    REDRIVEN = "redriven"
    NOT_STARTED = "not started"  # the dead letter stays
    TAKEN = "taken"  # a newer failure replaced it, or a concurrent redrive took it


def _restart(tenant: str, item: dict[str, Any], *, store: Store, sfn: Any,
             state_machine_arn: str) -> str:
    event_id, subscription_id = item["event_id"], item["subscription_id"]
    # Start first, delete after: a start that fails (a throttle, an outage) leaves the dead
    # letter in place. The delete is conditional on the letter read: should the new execution
    # already have failed again, its newer dead letter stays.
    try:
        restart_notification(sfn, store, state_machine_arn, tenant=tenant, event_id=event_id,
                             subscription_id=subscription_id, webhook_id=item["webhook_id"],
                             reason="redrive")
    except Exception:
        logger.exception("redrive: the new execution did not start; the dead letter stays",
                         extra={"tenant": tenant, "event_id": event_id,
                                "subscription_id": subscription_id})
        _still_failed(tenant, item, store)
        return _Restart.NOT_STARTED
    try:
        if not store.delete_dead_letter(tenant, event_id, subscription_id, item["gsi1sk"]):
            return _Restart.TAKEN
    except Exception:  # started all the same: a 503 would have the client start it again
        logger.exception("redrive: started, but its dead letter stays listed",
                         extra={"tenant": tenant, "event_id": event_id,
                                "subscription_id": subscription_id})
    return _Restart.REDRIVEN


def _still_failed(tenant: str, item: dict[str, Any], store: Store) -> None:
    """The restart marked the notification pending before its start failed: it is failed
    still, as its dead letter says (pending would look like a delivery under way)."""
    target = NotificationTarget(tenant=tenant, event_id=item["event_id"],
                                subscription_id=item["subscription_id"],
                                webhook_id=item["webhook_id"],
                                execution_name=str(item.get("execution_arn", "")).rsplit(":")[-1])
    try:
        store.set_notification_status(target, NotificationStatus.FAILED)
    except Exception:  # the same outage: the reconciler finds a pending one past its lease
        logger.exception("redrive: could not mark the notification failed again",
                         extra={"tenant": tenant, "event_id": item["event_id"]})
