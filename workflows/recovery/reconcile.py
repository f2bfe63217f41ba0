"""The reconciler: a scheduled run that finds what a dead execution left behind and finishes it.

In AWS nothing outlives an Express execution that dies (a `States.Timeout`, a task that fails
without a Catch, a lost run): no history, no journal. What it left is in the table, and each
run of the reconciler reads it back, window by window:

- (a) events stored but not fully fanned out → the ingest workflow starts again for them;
- (b) notifications `pending` or `delivering`, stale, with no live execution → restarted (the
  same webhook-id);
- (c) endpoints in recovery → a live recovery execution ensured for their parked notifications;
- (d) dead letters never marked queued → sent to the dead-letter queue.

A window is (checkpoint − overlap, now − stale age]: the events created in it (per tenant of the
registry, from the events index), the notifications restarted in it (restart markers, by
bucket), the dead letters that failed in it; the endpoints in recovery are looked at every run.
The checkpoint holds the end of the last window examined whole; a run that stops at its budget
saves where it stopped and the next one goes on from there; a run that fails leaves both, so
the next one covers the same ground. One run at a time: the checkpoint is also a lease.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from workflows.kernel.ids import new_id
from workflows.kernel.models import utc_now
from workflows.kernel.observability import logger
from workflows.kernel.settings import Settings
from workflows.recovery.reconcile_finds import EnsureRecovery, Finder, Kind, Targets
from workflows.recovery.reconcile_rules import (
    FIRST_LOOKBACK_SECONDS,
    OVERLAP_SECONDS,
    STALE_AFTER_SECONDS,
    machine_of,
)
from workflows.storage import Store
from workflows.storage.restart_markers import buckets_between

# Items examined per run: about a query each (10 ms), so a run takes well under its function's
# 5-minute timeout; more waits for the next run, which goes on from where this one stopped.
MAX_ITEMS_PER_RUN = 10_000
# One run at a time: the lease outlasts the function's timeout (5 minutes).
RUN_LEASE_SECONDS = 360
# Tries of the write that ends a run's lease (each with the SDK's own 3 attempts).
RELEASE_ATTEMPTS = 5
PAGE_SIZE = 100
# Runs that examine a window again because some of its items could not be (then it moves on:
# one bad item must not hold every later event back; each was counted as not_examined).
WINDOW_RETRIES = 3


@dataclass(frozen=True)
class ReconcileConfig:
    targets: Targets
    stale_after: timedelta
    overlap: timedelta
    first_lookback: timedelta
    max_items: int = MAX_ITEMS_PER_RUN
    lease_seconds: int = RUN_LEASE_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReconcileConfig":
        """The workflows' times follow the engine's scale locally (1 in AWS); the first look
        back is not a workflow's time and is not scaled."""
        scale = settings.time_scale
        express = frozenset(machine_of(arn.replace(":stateMachine:", ":execution:"))
                            for arn in (settings.ingest_state_machine_arn,
                                        settings.notification_state_machine_arn))
        return cls(targets=Targets(
            ingest_state_machine_arn=settings.ingest_state_machine_arn,
            notification_state_machine_arn=settings.notification_state_machine_arn,
            recovery_state_machine_arn=settings.recovery_state_machine_arn,
            dead_letter_queue_url=settings.dead_letter_queue_url,
            express_machines=express),
            stale_after=timedelta(seconds=STALE_AFTER_SECONDS * scale),
            overlap=timedelta(seconds=OVERLAP_SECONDS * scale),
            first_lookback=timedelta(seconds=FIRST_LOOKBACK_SECONDS))


class RunReport(BaseModel):
    """What one run did: `busy` (another run holds the lease), `idle` (no window yet),
    `partial` (stopped at its budget, goes on next time), `retry` (items it could not
    examine: the window again next time) or `done`."""

    outcome: str
    window_since: datetime | None = None
    window_until: datetime | None = None
    examined: int = 0
    found: dict[str, int] = {}


@dataclass(frozen=True)
class Source:
    """One thing a window reads, page by page, in a fixed order (the order a run resumes in)."""

    order: tuple[str, str, str]
    read: Callable[[dict[str, Any] | None, int], tuple[list[dict[str, Any]], Any]]
    examine: Callable[[dict[str, Any]], None]


def reconcile(*, store: Store, sfn: Any, sqs: Any, config: ReconcileConfig,
              ensure_recovery: EnsureRecovery, now: datetime | None = None,
              out_of_time: Callable[[], bool] = lambda: False) -> RunReport:
    """One run. `out_of_time`: asked before each page (the Lambda's remaining time)."""
    now = now or utc_now()
    run_id = new_id("rec")
    state = store.take_reconciler_lease(run_id, now, config.lease_seconds)
    if state is None:
        return RunReport(outcome="busy")
    try:
        since, until, position = _window(state, now, config)
        if until <= since:
            store.save_reconciler_progress(run_id, {}, release=True)
            return RunReport(outcome="idle")
        finder = Finder(store, sfn, sqs, config.targets, ensure_recovery, now,
                        config.stale_after, run_id)
        report = RunReport(outcome="done", window_since=since, window_until=until)
        stopped_at = _examine(_sources(store, finder, since, until), position, report,
                              config.max_items, out_of_time, finder.failed)
    except Exception:
        save_progress(store, run_id, {})  # the next run covers it
        raise
    report.found = dict(finder.found)
    saved: dict[str, Any]
    retries = int(state.get("retries") or 0)
    if stopped_at is None and finder.found[Kind.NOT_EXAMINED.value] and \
            retries < WINDOW_RETRIES:
        # Items it could not examine (AWS failing, most often): the whole window again next
        # time (what it fixed is not found twice); after WINDOW_RETRIES it moves on.
        report.outcome = "retry"
        saved = {"window_since": since.isoformat(), "window_until": until.isoformat(),
                 "position": None, "retries": retries + 1}
    elif stopped_at is None:
        saved = {"until": until.isoformat(), "window_since": None, "window_until": None,
                 "position": None, "retries": 0}
    else:
        report.outcome = "partial"
        saved = {"window_since": since.isoformat(), "window_until": until.isoformat(),
                 "position": stopped_at, "retries": retries}
    if not save_progress(store, run_id, saved):
        logger.warning("the reconciler's lease ran out before its run ended",
                       extra={"run_id": run_id})
    logger.info("reconciler run", extra=report.model_dump(mode="json"))
    return report


def save_progress(store: Store, run_id: str, values: dict[str, Any], *,
                  attempts: int = RELEASE_ATTEMPTS,
                  pause: Callable[[float], None] = time.sleep) -> bool:
    """Save the checkpoint and end this run's lease, retried: a lease left behind (AWS failing
    the write after the SDK's own retries) would hold every run off for RUN_LEASE_SECONDS."""
    for attempt in range(attempts):
        try:
            return store.save_reconciler_progress(run_id, values, release=True)
        except (ClientError, BotoCoreError):
            if attempt == attempts - 1:
                raise
            pause(0.1 * 2 ** attempt)
    return False


def _window(state: dict[str, Any], now: datetime,
            config: ReconcileConfig) -> tuple[datetime, datetime, dict[str, Any] | None]:
    """The window in progress, or the next one, and where in it to go on."""
    if state.get("window_since") and state.get("window_until"):
        return (datetime.fromisoformat(state["window_since"]),
                datetime.fromisoformat(state["window_until"]), state.get("position"))
    start = datetime.fromisoformat(state["until"]) if state.get("until") \
        else now - config.first_lookback
    return start - config.overlap, now - config.stale_after, None


def _sources(store: Store, finder: Finder, since: datetime,
             until: datetime) -> Iterator[Source]:
    for bucket in buckets_between(since, until):
        yield Source(("0", bucket, ""), partial(store.restart_markers, bucket), finder.marker)
    for tenant in sorted(store.registered_tenants()):
        yield Source(("1", tenant, "0"),
                     partial(store.events_created_between, tenant, since, until),
                     partial(finder.event, tenant))
        yield Source(("1", tenant, "1"),
                     partial(store.unqueued_dead_letters, tenant, since, until),
                     partial(finder.dead_letter, tenant))
        yield Source(("1", tenant, "2"), partial(store.endpoints_in_recovery, tenant),
                     partial(finder.endpoint, tenant))


def _examine(sources: Iterator[Source], position: dict[str, Any] | None, report: RunReport,
             budget: int, out_of_time: Callable[[], bool],
             failed: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    """Every source from `position` on; where it stopped, or None when all were read."""
    resume = tuple(position["source"]) if position else None
    for source in sources:
        if resume is not None and source.order < resume:
            continue  # examined by an earlier run of this window
        after = position.get("after") if resume == source.order and position else None
        resume = None
        while True:
            if report.examined >= budget or out_of_time():
                return {"source": list(source.order), "after": after}
            items, after = source.read(after, min(PAGE_SIZE, budget - report.examined))
            for item in items:
                try:
                    source.examine(item)
                except Exception:
                    failed(item)
            report.examined += len(items)
            if after is None:
                break
    return None
