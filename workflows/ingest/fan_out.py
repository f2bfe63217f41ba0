"""Fan-out: one notification per active subscription whose filter matches, a page of the
tenant's subscriptions at a time. No payload ever holds every target: an event matched by
10,000 subscriptions is 40 pages of 250, each a task of the ingest workflow.

The acceptance (the API, the EventBridge consumer) fans out the first page itself, so an event
with a handful of subscriptions needs no ingest execution; the ingest workflow walks the rest.
Every page is idempotent: a row is created once and a notification still pending is started
again (a repeated execution of it is made harmless by its row's attempt lease).
"""

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from workflows.delivery.executions import start_notification
from workflows.ingest.accept import Accepted, accept_event
from workflows.kernel import activity, observability
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import Event, NotificationTarget, PublishedEvent
from workflows.kernel.observability import annotate, logger
from workflows.storage import Store

# Subscriptions examined by the acceptance itself (it answers a client: a short page), and by
# each task of the ingest workflow (250 conditional puts and starts, about 2 s in AWS).
INLINE_PAGE = 100
WORKFLOW_PAGE = 250
# Pages one ingest run walks before it hands the rest to a new run (continue as new): 20 pages
# take about 40 s, far inside Express's 5 minutes, whatever the number of subscriptions.
PAGES_PER_RUN = 20
_STARTERS = 16  # concurrent StartExecution calls of one page


class FanOutRequest(BaseModel):
    """The ingest workflow's input (and each page's output): where the walk stands."""

    tenant: str
    event_id: str
    after: str | None = None  # the last subscription key examined; None: from the start
    # Start again every notification still pending, however young: the acceptance's own
    # starts failed (else a young pending one is left alone: its start may be on its way).
    restart_pending: bool = False
    pages: int = 0  # walked by this run


class FanOutProgress(FanOutRequest):
    started: int = 0
    done: bool = False


Starter = Callable[[Sequence[NotificationTarget]], None]


def fan_out_page(event: Event, after: str | None, *, store: Store, start: Starter,
                 page_size: int, restart_pending: bool = False) -> FanOutProgress:
    """Create the notifications of one page of subscriptions and start those not started."""
    subscriptions, next_after = store.subscriptions_after(event.tenant, after, page_size)
    targets = [
        NotificationTarget(
            tenant=event.tenant, event_id=event.id, subscription_id=subscription.id,
            webhook_id=webhook_id(event.tenant, event.id, subscription.id),
            # Subscription ids are unique across tenants: no need to spend the name on it.
            execution_name=execution_name(event.id, subscription.id),
        )
        for subscription in subscriptions if subscription.receives(event.type)
    ]
    to_start = store.create_notifications(targets, restart_pending_after=timedelta(0)) \
        if restart_pending else store.create_notifications(targets)
    start(to_start)
    return FanOutProgress(tenant=event.tenant, event_id=event.id, after=next_after,
                          restart_pending=restart_pending, started=len(to_start),
                          done=next_after is None)


def starter(sfn: Any, notification_state_machine_arn: str) -> Starter:
    """Start one notification execution per target, concurrently; the first error is raised
    once every start was tried (the page is retried: the started ones are harmless again)."""
    def start(targets: Sequence[NotificationTarget]) -> None:
        if len(targets) <= 1:
            for target in targets:
                start_notification(sfn, notification_state_machine_arn, target)
            return
        with ThreadPoolExecutor(max_workers=min(_STARTERS, len(targets))) as pool:
            futures = [pool.submit(start_notification, sfn, notification_state_machine_arn, t)
                       for t in targets]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
    return start


@dataclass(frozen=True)
class FanOut:
    """What an acceptance needs to fan an event out: its first page here, the rest in the
    ingest workflow."""

    store: Store
    sfn: Any
    notification_state_machine_arn: str
    ingest_state_machine_arn: str

    def accept(self, published: PublishedEvent, owner: str, source: str) -> Accepted:
        """Store the event once (see `accept_event`), then fan out a new one."""
        accepted = accept_event(published, owner, store=self.store)
        event = accepted.event
        annotate(tenant=event.tenant, event_id=event.id)
        if not accepted.new:
            logger.info("duplicate event ignored", extra={"event_id": event.id})
            return accepted
        observability.event_accepted(source)
        progress = self.begin(event)
        activity.event_accepted(tenant=event.tenant, event_id=event.id, event_type=event.type,
                                source=source, notifications=progress.started if progress else 0)
        return accepted

    def starter(self) -> Starter:
        return starter(self.sfn, self.notification_state_machine_arn)

    def begin(self, event: Event) -> FanOutProgress | None:
        """The first page, then an ingest execution for the rest. The event is stored already:
        when AWS fails this page, the ingest workflow walks every page instead (its retries
        take over at once); when it cannot even be started, the reconciler finds the event's
        missing or unstarted notifications and finishes it. None when it failed here."""
        try:
            progress = fan_out_page(event, None, store=self.store, start=self.starter(),
                                    page_size=INLINE_PAGE)
            if not progress.done:
                self.continue_in_workflow(progress)
            return progress
        except Exception:  # whatever AWS answered: the event is durable, the 202 stands
            logger.warning("fan-out handed to the ingest workflow", exc_info=True,
                           extra={"tenant": event.tenant, "event_id": event.id})
        try:
            self.continue_in_workflow(FanOutRequest(tenant=event.tenant, event_id=event.id,
                                                    restart_pending=True))
        except Exception:
            logger.exception("fan-out left to the reconciler",
                             extra={"tenant": event.tenant, "event_id": event.id})
        return None

    def next_page(self, request: FanOutRequest) -> FanOutProgress:
        """The ingest workflow's page: the next one, and past PAGES_PER_RUN a new run for the
        rest (this one then ends)."""
        stored = self.store.get_event(request.tenant, request.event_id)
        if stored is None:  # expired, or never stored: nothing to deliver
            logger.warning("fan-out of an event that is not stored", extra=request.model_dump())
            return FanOutProgress(**request.model_dump(), done=True)
        progress = fan_out_page(stored, request.after, store=self.store, start=self.starter(),
                                page_size=WORKFLOW_PAGE, restart_pending=request.restart_pending)
        progress.pages = request.pages + 1
        if not progress.done and progress.pages >= PAGES_PER_RUN:
            self.continue_in_workflow(progress.model_copy(update={"pages": 0}))
            progress.done = True
        return progress

    def continue_in_workflow(self, where: FanOutRequest) -> str:
        """Start the ingest workflow from `where` (also the reconciler's way to finish an event:
        from the start, every page is idempotent)."""
        request = FanOutRequest.model_validate(where.model_dump(include=set(
            FanOutRequest.model_fields)))
        started = self.sfn.start_execution(
            stateMachineArn=self.ingest_state_machine_arn,
            # Express names are not unique: the name only makes the run easy to find in logs.
            name=execution_name(where.tenant, where.event_id, new_id("fo")),
            input=json.dumps(request.model_dump(mode="json"), separators=(",", ":")))
        return started["executionArn"]
