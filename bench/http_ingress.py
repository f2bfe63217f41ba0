"""`make bench-http`: the HTTP ingress of the local platform.

1. POST /events latency at a fixed offered rate (open loop: request i is sent at t0 + i/rate,
   whatever happened to the others), through the local gateway, the authorizer and the API
   handler to StartExecution of the ingest workflow: p50/p99/max, achieved rate, errors.
2. Notifications/s end to end through the API: N events published over HTTP (8 clients in
   parallel), each delivered to one subscription as a signed webhook to a local receiver;
   the rate from the first POST to the last arrival, and the p50/p99 POST-to-arrival latency;
   CPU per notification, split by component with `--breakdown` (py-spy).
3. With `--soak N`: N more events at a fixed offered rate (open loop), after 1 and 2 have
   warmed everything up: RSS growth from before to after (every event delivered, finished
   executions pruned) and POST /events latency during the run.
4. The raw-HTTP reference of the same run: the same receiver driven by a plain client loop.

Prints a readable summary and, last, one JSON line with the figures (for merging with
`make bench`).
"""

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from moto.dynamodb.models import dynamodb_backends

from bench.cpu_profile import CpuProfile
from bench.receiver import Arrivals, percentile
from bench.throughput import raw_http_ceiling, rss_mb
from stepwire.config import LocalConfig
from stepwire.runtime import LocalRuntime
from tests.support.receiver import free_port
from workflows import wiring
from workflows.auth.tokens import issue_token, signing_key

TENANT = "bench"


def offered_rate(api: str, token: str, rate: float, count: int,
                 accepted: set[str] | None = None) -> dict:
    """Open loop: POST i starts at t0 + i/rate on a pool large enough never to queue. The ids
    of the accepted events are added to `accepted`."""
    latencies: list[float] = []
    errors: dict[int, int] = {}
    lock = threading.Lock()
    local = threading.local()

    def post(i: int, start_at: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        delay = start_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        response = client.post("/events", json={"type": "bench.rate", "data": {"i": i}})
        elapsed = (time.perf_counter() - sent) * 1000
        with lock:
            if response.status_code == 202:
                latencies.append(elapsed)
                if accepted is not None:
                    accepted.add(response.json()["id"])
            else:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1

    t0 = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=min(64, max(8, int(rate)))) as pool:
        for i in range(count):
            pool.submit(post, i, t0 + i / rate)
    duration = time.perf_counter() - t0
    return {"offered_per_s": rate, "requests": count, "achieved_per_s": round(count / duration, 1),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies, default=float("nan")), 1),
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "errors": errors}


def end_to_end(api: str, token: str, arrivals: Arrivals, count: int, clients: int,
               breakdown: bool = False) -> dict:
    sent_at: dict[str, float] = {}
    post_ms: list[float] = []
    lock = threading.Lock()

    def publish(indexes: range) -> None:
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as client:
            for i in indexes:
                started = time.perf_counter()
                response = client.post("/events", json={"type": "bench.e2e", "data": {"i": i}})
                response.raise_for_status()
                with lock:
                    sent_at[response.json()["id"]] = started
                    post_ms.append((time.perf_counter() - started) * 1000)

    rss_before = rss_mb()
    with CpuProfile(breakdown) as profile:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=publish, args=(range(n, count, clients),))
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        published = time.perf_counter() - t0
        complete = arrivals.wait_for(set(sent_at), timeout=max(120.0, count / 2))
    last = max((arrivals.at[i] for i in sent_at if i in arrivals.at), default=t0)
    delays = [(arrivals.at[i] - sent) * 1000 for i, sent in sent_at.items() if i in arrivals.at]
    return {"events": count, "delivered": len(delays), "complete": complete,
            "publish_per_s": round(count / published, 1),
            "notifications_per_s": round(len(delays) / (last - t0), 1),
            "p50_post_to_arrival_ms": round(percentile(delays, 0.50), 1),
            "p99_post_to_arrival_ms": round(percentile(delays, 0.99), 1),
            "post_p99_ms": round(percentile(post_ms, 0.99), 1),
            "rss_growth_mb": round(rss_mb() - rss_before, 1),
            **profile.report(len(delays))}


# Both RSS readings wait for the runtime's housekeeping: the pruner's pass over finished
# executions, the packing of items unused for 10 s and the heap trim every 10 s.
SETTLE_SECONDS = 15


def soak(api: str, token: str, arrivals: Arrivals, count: int, rate: float) -> dict:
    """`count` events at `rate`/s after warm-up: RSS growth once all are delivered and the
    finished executions pruned, and POST /events latency meanwhile."""
    time.sleep(SETTLE_SECONDS)
    rss_before, items_before = rss_mb(), stored_items()
    started = time.perf_counter()
    accepted: set[str] = set()
    latency = offered_rate(api, token, rate, count, accepted)
    complete = arrivals.wait_for(accepted, timeout=max(300.0, count / 5))
    seconds = time.perf_counter() - started
    time.sleep(SETTLE_SECONDS)
    return {"events": count, "delivered": sum(1 for i in accepted if i in arrivals.at),
            "complete": complete, "seconds": round(seconds, 1),
            "rss_before_mb": round(rss_before, 1),
            "rss_growth_mb": round(rss_mb() - rss_before, 1),
            "items_stored": stored_items() - items_before, "post": latency}


def stored_items() -> int:
    """Items in the emulated DynamoDB tables (what the platform keeps: events, notifications,
    attempt logs), which moto holds in memory."""
    return sum(len(table) for account in dynamodb_backends.values()
               for backend in account.values() for table in backend.tables.values())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="offered POST /events per s")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to offer it")
    parser.add_argument("--events", type=int, default=300, help="events for the e2e figure")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ephemeral", action="store_true",
                        help="keep state in memory only (default: a fresh state directory)")
    parser.add_argument("--breakdown", action="store_true",
                        help="split the CPU per notification by component (py-spy)")
    parser.add_argument("--workers", type=int, default=LocalConfig.workers,
                        help="executions computing at once (the admission pool)")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="then N more events at --soak-rate: RSS growth, POST latency")
    parser.add_argument("--soak-rate", type=float, default=20.0, help="offered events/s")
    args = parser.parse_args(argv)

    state_dir = None if args.ephemeral else tempfile.mkdtemp(prefix="stepwire-bench-")
    config = LocalConfig(aws_port=free_port(), api_port=free_port(), retry_time_scale=0.01,
                         api_rate=1_000_000, api_burst=1_000_000, log_format=None,
                         state_dir=state_dir, workers=args.workers)
    arrivals = Arrivals()
    with LocalRuntime(config) as runtime:
        assert runtime.resources is not None
        wiring.tenants().ensure(TENANT)  # its API key in the (here unthrottled) default tier
        key = signing_key(runtime.client("secretsmanager").get_secret_value(
            SecretId=runtime.resources.jwt_secret_id))
        token = issue_token(key, tenant=TENANT, roles=["admin", "publisher"], sub="bench",
                            issuer="stepwire", audience="stepwire-api")
        api = f"http://{config.host}:{config.api_port}"
        created = httpx.post(f"{api}/subscriptions", headers={"Authorization": f"Bearer {token}"},
                             json={"url": arrivals.url, "event_types": ["bench.*"]})
        created.raise_for_status()
        latency = offered_rate(api, token, args.rate, int(args.rate * args.seconds))
        # Let the first phase's notifications drain before measuring end to end.
        before = -1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if len(arrivals.at) == before:
                break
            before = len(arrivals.at)
        e2e = end_to_end(api, token, arrivals, args.events, args.clients, args.breakdown)
        soaked = soak(api, token, arrivals, args.soak, args.soak_rate) if args.soak else None
        reference = raw_http_ceiling(arrivals, 1000)
    result = {"http_ingress": latency, "http_end_to_end": e2e, "soak": soaked,
              "raw_http_per_s": round(reference, 1)}
    print(f"POST /events at {latency['offered_per_s']:g}/s offered for {args.seconds:g} s "
          f"({latency['requests']} requests, {latency['achieved_per_s']}/s achieved): "
          f"p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms, "
          f"errors {latency['errors'] or 'none'}")
    print(f"End to end through the API: {e2e['delivered']}/{e2e['events']} delivered, "
          f"{e2e['notifications_per_s']} notifications/s (published at "
          f"{e2e['publish_per_s']}/s), POST-to-arrival p50 {e2e['p50_post_to_arrival_ms']} ms, "
          f"p99 {e2e['p99_post_to_arrival_ms']} ms; POST /events p99 {e2e['post_p99_ms']} ms; "
          f"RSS growth {e2e['rss_growth_mb']} MB")
    print(f"CPU per notification: {e2e['cpu_ms_per_notification']} ms (this process: platform, "
          f"publishers and receiver)" + "".join(
              f"\n  {name:20s} {ms:6.1f} ms" for name, ms in e2e["breakdown_ms"].items()))
    if soaked is not None:
        post = soaked["post"]
        print(f"Soak: {soaked['delivered']}/{soaked['events']} delivered at "
              f"{post['offered_per_s']:g}/s offered in {soaked['seconds']} s; RSS growth "
              f"{soaked['rss_growth_mb']} MB after warm-up (from {soaked['rss_before_mb']} MB), "
              f"with {soaked['items_stored']} more items in the emulated table; "
              f"POST /events p50 {post['p50_ms']} ms, p99 {post['p99_ms']} ms, max "
              f"{post['max_ms']} ms, errors {post['errors'] or 'none'}")
    print(f"Reference: raw HTTP {result['raw_http_per_s']} requests/s (plain client loop, same "
          "receiver, same run)")
    print(f"State: {'in memory' if state_dir is None else 'durable, ' + state_dir}")
    print(json.dumps(result, separators=(",", ":")))
    return result


if __name__ == "__main__":
    main()
