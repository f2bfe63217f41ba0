"""`make bench-outage`: one endpoint down while N events are published to it.

On the local runtime with real HTTP receivers: tenant A's endpoint answers 503 until it is
switched up; tenant B's healthy endpoint gets one event every 0.2 s all along (each its own ingest
execution, as `POST /events` starts it; A's events come in through EventBridge). Printed: the
most executions running at once per state machine during the outage and once everything is
parked, the attempts the dead endpoint received, tenant B's latency before and during the
outage, the time from recovery to the whole backlog delivered and the pace of its arrivals in
1-second windows, dead letters and duplicate webhook-ids.
"""

import argparse
import json
import os
import threading
import time
from collections import Counter

from bench.receiver import percentile
from stepwire.config import LocalConfig
from stepwire.emulation.stepfunctions import executions
from stepwire.runtime import LocalRuntime
from tests.support.receiver import Answer, Received, Receiver, free_port
from workflows import wiring
from workflows.kernel.ids import new_id
from workflows.kernel.settings import get_settings
from workflows.operations.subscriptions import NewSubscription, create_subscription


class Down:
    def __init__(self) -> None:
        self.up = threading.Event()

    def __call__(self, request: Received) -> Answer:
        return Answer(status=200) if self.up.is_set() else Answer(status=503)


def subscribe(tenant: str, receiver: Receiver, path: str) -> str:
    created = create_subscription(tenant, NewSubscription(url=receiver.url(path),
                                                          event_types=["*"]),
                                  store=wiring.store(), policy=wiring.target_policy())
    receiver.secrets[path] = created.secret
    return created.id


def put(client, tenant: str, ids: list[str]) -> None:
    for start in range(0, len(ids), 10):
        client.put_events(Entries=[{
            "EventBusName": "stepwire", "Source": "bench", "DetailType": "bench.outage",
            "Detail": json.dumps({"tenant": tenant, "id": event_id, "data": {"n": event_id}}),
        } for event_id in ids[start:start + 10]])


def wait_until(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached in {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def run(events: int, scale: float, timeout: float, outage_seconds: float = 10.0) -> dict:
    # Parked notifications must outlive the outage here: the retry window and auto-disable are
    # set out of reach.
    out_of_reach = {"STEPWIRE_RETRY_WINDOW_SECONDS": str(10**9),
                    "STEPWIRE_AUTO_DISABLE_AFTER_SECONDS": str(10**9)}
    os.environ.update(out_of_reach)
    get_settings.cache_clear()
    config = LocalConfig(aws_port=free_port(), api_port=free_port(), retry_time_scale=scale,
                         request_timeout=2.0, log_format=None)
    down = Down()
    with LocalRuntime(config) as runtime, Receiver(down) as dead, Receiver() as healthy:
        os.environ.update(out_of_reach)
        get_settings.cache_clear()
        assert runtime.resources is not None  # set once the runtime has started
        arns = runtime.resources.state_machine_arns
        bus = runtime.client("events")
        tenant_a, tenant_b = new_id("tenant"), new_id("tenant")
        sub_a = subscribe(tenant_a, dead, "/a")
        subscribe(tenant_b, healthy, "/b")
        peak: Counter = Counter()
        b_sent: dict[str, float] = {}
        phase = {"name": "before"}
        b_latency: dict[str, list[float]] = {"before": [], "burst": [], "outage": [],
                                             "after": []}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                if phase["name"] in ("burst", "outage"):
                    for name, arn in arns.items():
                        try:
                            peak[name] = max(peak[name], executions.running_executions(arn))
                        except AttributeError:
                            pass  # moto: an execution being created has no status yet
                time.sleep(0.02)

        sfn = runtime.client("stepfunctions")

        def tenant_b_traffic() -> None:
            # As POST /events does: its own ingest execution, not behind A's EventBridge batch.
            while not stop.is_set():
                event_id = new_id("evt")
                b_sent[event_id] = time.monotonic()
                sfn.start_execution(stateMachineArn=arns["ingest"], name=event_id,
                                    input=json.dumps({"tenant": tenant_b, "id": event_id,
                                                      "type": "bench.outage", "data": {}}))
                healthy.wait_for("/b", len(b_sent), timeout=timeout)
                arrived = healthy.requests["/b"][-1]
                b_latency[phase["name"]].append(arrived.at - b_sent[event_id])
                time.sleep(0.2)

        threads = [threading.Thread(target=f, daemon=True) for f in (sample, tenant_b_traffic)]
        for thread in threads:
            thread.start()
        time.sleep(5)  # tenant B's latency before the outage

        phase["name"] = "burst"
        ids = [new_id("evt") for _ in range(events)]
        put(bus, tenant_a, ids)
        store = wiring.store()
        parked_after = wait_until(lambda: store.parked_count(tenant_a, sub_a) == events,
                                  timeout, "every notification parked")
        # Everything parked, the endpoint still down: what the outage costs the others.
        phase["name"] = "outage"
        time.sleep(outage_seconds)
        steady = {name: executions.running_executions(arn) for name, arn in arns.items()}
        attempts_down = len(dead.requests.get("/a", []))
        health = store.endpoint_health(tenant_a, sub_a)

        phase["name"] = "after"
        recovered = time.monotonic()
        down.up.set()
        backlog_s = wait_until(
            lambda: len({r.headers["webhook-id"] for r in dead.requests["/a"][attempts_down:]})
            == events, timeout, "the backlog delivered")
        stop.set()
        arrivals = dead.requests["/a"][attempts_down:]
        windows = Counter(int(r.at - recovered) for r in arrivals)
        dead_letters = int(runtime.client("sqs").get_queue_attributes(
            QueueUrl=runtime.resources.dead_letter_queue_url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"])
        return {
            "events": events, "retry_time_scale": scale,
            "published_to_all_parked_s": round(parked_after, 1),
            "breaker": health.breaker.value, "failure_streak": health.failure_streak,
            "attempts_at_dead_endpoint": attempts_down,
            "peak_running_during_burst_and_outage": dict(peak),
            "running_at_outage_end": steady,
            # Tenant B's publish-to-arrival latency (ms) and event count per phase; "burst" is
            # while tenant A's events are ingested (one process, one GIL, shared locally).
            "tenant_b_latency_ms": {
                name: {"p50": round(percentile(values, 0.5) * 1000),
                       "p99": round(percentile(values, 0.99) * 1000), "events": len(values)}
                for name, values in b_latency.items() if values},
            "recovery_to_backlog_delivered_s": round(backlog_s, 1),
            "arrivals_per_second_max": max(windows.values()),
            "arrivals_per_second_mean": round(events / max(len(windows), 1), 1),
            "duplicate_webhook_ids": len(arrivals) - len({r.headers["webhook-id"]
                                                         for r in arrivals}),
            "dead_letters": dead_letters,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--retry-time-scale", type=float, default=0.001)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.retry_time_scale, args.timeout), indent=2))


if __name__ == "__main__":
    main()
