"""The reconciler's share of `make cost`, measured on the local runtime.

A run examines each event once, whatever happened to it: one read of its page of the events
index and one query of its partition (its notification rows). Everything else it reads is per
run, not per notification: the tenant registry, the checkpoint and its lease, the restart-marker
buckets, each tenant's dead letters and endpoints. So: one tenant, one subscription, `EVENTS`
events delivered at the first attempt (one notification each, the most the reconciler costs per
notification), one run over them, and one run with nothing new. Reads, writes and the
function's seconds are counted by the same meter as the scenarios, priced with
bench/prices.json; the schedule runs `RUNS_PER_MONTH` times a month.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.metering import metering
from bench.receiver import Arrivals
from stepwire.config import LocalConfig
from stepwire.host.reconcile_timer import FUNCTION
from stepwire.runtime import LocalRuntime
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.kernel.models import utc_now
from workflows.kernel.settings import get_settings
from workflows.operations.events import PublishRequest, publish_event
from workflows.operations.subscriptions import NewSubscription, create_subscription
from workflows.recovery.reconcile_rules import RECONCILE_EVERY_SECONDS

EVENTS = 200
RUNS_PER_MONTH = 30 * 24 * 3600 // RECONCILE_EVERY_SECONDS
MEMORY_GB = 0.5  # stacks/functions.py RECONCILE


@dataclass(frozen=True)
class ReconcilerCounts:
    events: int
    read_units: float  # the run over the events
    write_units: float
    seconds: float
    idle_read_units: float  # the run with nothing new
    idle_write_units: float
    idle_seconds: float

    @property
    def read_units_per_event(self) -> float:
        return (self.read_units - self.idle_read_units) / self.events

    @property
    def seconds_per_event(self) -> float:
        return max(self.seconds - self.idle_seconds, 0.0) / self.events


def measure(scale: float, timeout: float = 120.0) -> ReconcilerCounts:
    config = LocalConfig(aws_port=0, api_port=0, retry_time_scale=scale, log_format=None,
                         request_timeout=2.0)
    receiver = Arrivals()
    with LocalRuntime(config) as runtime:
        store = wiring.store()
        tenant = new_id("reconciled")
        create_subscription(tenant, NewSubscription(url=receiver.url, event_types=["*"]),
                            store=store, policy=wiring.target_policy())
        store.reset_reconciler_checkpoint(utc_now() - timedelta(seconds=1))
        request = PublishRequest(type="order.created", data={"order": 42, "items": ["a", "b"]})
        for _ in range(EVENTS):
            publish_event(tenant, request, None, fan_out=wiring.fan_out(),
                          max_data_bytes=get_settings().max_event_data_bytes,
                          idempotency=wiring.publish_idempotency())
        deadline = time.monotonic() + timeout
        while len(receiver.at) < EVENTS or not runtime.reconciler.express_idle():
            if time.monotonic() > deadline:
                raise TimeoutError("the events were not all delivered")
            time.sleep(0.05)
        time.sleep(wiring.reconcile_config().stale_after.total_seconds())
        busy, report = _metered_run(runtime)
        if report["examined"] < EVENTS or report["found"]:
            raise RuntimeError(f"the run did not examine the delivered events alone: {report}")
        idle, _ = _metered_run(runtime)
    return ReconcilerCounts(EVENTS, busy["read"], busy["write"], busy["seconds"],
                            idle["read"], idle["write"], idle["seconds"])


def _metered_run(runtime: LocalRuntime) -> tuple[dict[str, float], dict[str, Any]]:
    with metering() as meter:
        report = runtime.reconciler.run_now()
    return ({"read": meter.read_units, "write": meter.write_units,
             "seconds": meter.lambda_seconds.get(FUNCTION, 0.0)}, report)


def per_event(counts: ReconcilerCounts, prices: dict[str, Any]) -> float:
    """$ per event examined: at most one per notification (the happy path's share)."""
    return (counts.read_units_per_event * prices["dynamodb_per_read_unit"]
            + counts.seconds_per_event * MEMORY_GB * prices["lambda_per_gb_second_x86"])


def report(counts: ReconcilerCounts, prices: dict[str, Any]) -> str:
    """Its $ per million notifications (per event examined) and a month of its schedule."""
    each = per_event(counts, prices)
    per_run = (counts.idle_read_units * prices["dynamodb_per_read_unit"]
               + counts.idle_write_units * prices["dynamodb_per_write_unit"]
               + prices["lambda_per_request"]
               + counts.idle_seconds * MEMORY_GB * prices["lambda_per_gb_second_x86"])
    return (f"reconciler: {counts.read_units_per_event:.3f} RRU and "
            f"{counts.seconds_per_event * 1000:.2f} ms per event examined "
            f"(measured over {counts.events}), no write; a run with nothing new "
            f"{counts.idle_read_units:g} RRU, {counts.idle_write_units:g} WRU, "
            f"{counts.idle_seconds * 1000:.0f} ms\n"
            f"  ${each * 1_000_000:.3f} per million notifications (one per event, the "
            f"most per notification) + ${per_run * RUNS_PER_MONTH:.3f} a month for its "
            f"{RUNS_PER_MONTH:,} runs (every {RECONCILE_EVERY_SECONDS} s; the rule itself is "
            "free)")
