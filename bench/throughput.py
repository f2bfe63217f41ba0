"""`make bench`: notifications per second through the whole local platform.

N events go in through the EventBridge API (put_events, batches of 10), each to one
subscription, out as signed webhooks to a local receiver. Printed: notifications/s end to end,
p50/p99 latency from put_events to arrival, CPU per notification, RSS before and after (after a
warm-up round that loads what is loaded once), and, measured in the same run, the raw-HTTP
ceiling: the same receiver driven by a plain client loop.
"""

import argparse
import json
import time
from pathlib import Path

import httpx

from bench.receiver import Arrivals, percentile
from stepwire.config import LocalConfig
from stepwire.runtime import LocalRuntime
from tests.support.receiver import free_port
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.operations.subscriptions import NewSubscription, create_subscription

TARGET_PER_SECOND = 100
TARGET_RSS_GROWTH_MB = 50
WARM_UP_EVENTS = 100


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def publish(client, tenant: str, ids: list[str], sent_at: dict[str, float]) -> None:
    """put_events in batches of 10, recording when each event was sent."""
    for start in range(0, len(ids), 10):
        batch = ids[start:start + 10]
        now = time.perf_counter()
        client.put_events(Entries=[{
            "EventBusName": "stepwire", "Source": "bench", "DetailType": "bench.tested",
            "Detail": json.dumps({"tenant": tenant, "id": event_id, "data": {}}),
        } for event_id in batch])
        sent_at.update(dict.fromkeys(batch, now))


def raw_http_ceiling(receiver: Arrivals, requests: int) -> float:
    """Requests/s of a plain client loop against the same receiver."""
    body = json.dumps({"id": "ceiling", "type": "bench", "data": {}}).encode()
    with httpx.Client() as client:
        started = time.perf_counter()
        for _ in range(requests):
            client.post(receiver.url, content=body,
                        headers={"content-type": "application/json"})
        return requests / (time.perf_counter() - started)


def run(events: int, timeout: float, optimize: bool = True,
        keep: int | None = None) -> dict[str, float]:
    rss_start = rss_mb()
    receiver = Arrivals()
    ceiling = raw_http_ceiling(receiver, 1000)
    config = LocalConfig(aws_port=free_port(), api_port=free_port(), optimize_engine=optimize,
                         log_format=None)
    if keep is not None:
        config.keep_finished_executions = keep
    with LocalRuntime(config) as runtime:
        tenant = new_id("bench")
        create_subscription(tenant, NewSubscription(url=receiver.url, event_types=["*"]),
                            store=wiring.store(), policy=wiring.target_policy())
        client = runtime.client("events")
        warm_up = [new_id("warm") for _ in range(WARM_UP_EVENTS)]
        publish(client, tenant, warm_up, {})
        receiver.wait_for(set(warm_up), timeout)
        time.sleep(3)  # let the pruner see the warm-up executions finish
        rss_started, cpu_started = rss_mb(), time.process_time()

        ids = [new_id("evt") for _ in range(events)]
        sent_at: dict[str, float] = {}
        started = time.perf_counter()
        publish(client, tenant, ids, sent_at)
        published = time.perf_counter() - started
        receiver.wait_for(set(ids), timeout)
        arrived = {i: receiver.at[i] for i in ids if i in receiver.at}
        elapsed = max(arrived.values(), default=started) - started
        delivered = len(arrived)
        latencies = [at - sent_at[i] for i, at in arrived.items()]
        rss_end = rss_mb()
        cpu = time.process_time() - cpu_started
    return {
        "cpu_ms_per_notification": cpu * 1000 / max(delivered, 1),
        "events": events, "delivered": delivered, "publish_seconds": published,
        "seconds": elapsed, "per_second": delivered / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rss_start_mb": rss_start, "rss_runtime_mb": rss_started, "rss_end_mb": rss_end,
        "ceiling_per_second": ceiling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--stock-engine", action="store_true",
                        help="measure moto's engine without Stepwire's speed-ups")
    parser.add_argument("--keep", type=int, default=None,
                        help="finished executions kept per state machine (default: the runtime's)")
    args = parser.parse_args()
    r = run(args.events, args.timeout, optimize=not args.stock_engine, keep=args.keep)
    growth = r["rss_end_mb"] - r["rss_runtime_mb"]
    print(f"EventBridge ingress → webhook, {r['events']} events, one subscription each")
    print(f"  delivered              {r['delivered']}/{r['events']} in {r['seconds']:.1f} s "
          f"(published in {r['publish_seconds']:.1f} s)")
    print(f"  notifications/s        {r['per_second']:.1f}   (target ≥ {TARGET_PER_SECOND}"
          f"{'; stock engine' if args.stock_engine else ''})")
    print(f"  CPU per notification   {r['cpu_ms_per_notification']:.1f} ms (all threads)")
    print(f"  latency put→webhook    p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms")
    print(f"  RSS                    {r['rss_start_mb']:.0f} MB before the runtime, "
          f"{r['rss_runtime_mb']:.0f} MB after {WARM_UP_EVENTS} warm-up events, "
          f"{r['rss_end_mb']:.0f} MB at the end")
    print(f"  RSS growth             {growth:+.0f} MB over {r['events']} notifications "
          f"(target < {TARGET_RSS_GROWTH_MB} MB over 10,000)")
    print(f"  reference: raw HTTP    {r['ceiling_per_second']:.0f} requests/s "
          "(plain client loop, same receiver, same run)")


if __name__ == "__main__":
    main()
