"""`make cost`: dollars per million notifications, measured on the local runtime.

Every scenario publishes as `POST /events` does and runs on today's state machines (Express
notification, Standard long tail; the ingest workflow only past one page of subscriptions).
Counts come from what ran (execution histories, the Lambda host, the emulated DynamoDB);
prices and default quotas from bench/prices.json. Excluded: the ingress requests (API Gateway
and the api function's invocation, or EventBridge PutEvents; the publish's seconds in the api
function are counted), CloudWatch Logs, X-Ray, KMS and Secrets Manager calls. The reconciler's
share is printed apart: it runs on a schedule, not per notification.

    python -m bench.cost [--scale 1e-5]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import reconciler_cost
from bench.receiver import Arrivals
from bench.scenarios import SCENARIOS, Counts, run
from stacks.functions import ALL_FUNCTIONS
from stepwire.config import LocalConfig
from stepwire.host.provision import MACHINES, Machine
from stepwire.runtime import LocalRuntime

PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
# Lambda memory as deployed (stacks/functions.py), by the local host's function names
# (`HandOff` runs as `stepwire-hand-off`).
MEMORY_GB = {"stepwire-" + re.sub(r"(?<!^)(?=[A-Z])", "-", spec.name).lower():
             spec.memory_size / 1024 for spec in ALL_FUNCTIONS}
HOT_PATH = ("lambdas.handle_deliver_notification", "lambdas.handle_ingest_event")


@dataclass(frozen=True)
class Dollars:
    step_functions: float
    lambda_: float
    dynamodb: float
    sqs: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_ + self.dynamodb + self.sqs


def per_million(counts: Counts) -> Dollars:
    """$ per million notifications."""
    p, n = PRICES, counts.notifications
    sfn = (counts.standard_transitions * p["step_functions_standard_per_transition"]
           + counts.express_requests * p["step_functions_express_per_request"]
           + counts.express_billed_seconds * p["step_functions_express_billed_gb"]
           * p["step_functions_express_per_gb_second"])
    lam = sum(counts.lambda_invocations.values()) * p["lambda_per_request"] + sum(
        seconds * MEMORY_GB[name] * p["lambda_per_gb_second_x86"]
        for name, seconds in counts.lambda_seconds.items())
    ddb = counts.write_units * p["dynamodb_per_write_unit"] \
        + counts.read_units * p["dynamodb_per_read_unit"]
    sqs = counts.sqs_messages * p["sqs_per_request"]
    scale = 1_000_000 / n
    return Dollars(sfn * scale, lam * scale, ddb * scale, sqs * scale)


def ceiling(counts: Counts) -> tuple[float, str]:
    """Notifications/s the default quotas allow for this scenario's mix, and what binds."""
    q, n = PRICES["quotas"], counts.notifications
    limits = {"Lambda concurrency": q["lambda_concurrency"]
              / max(sum(counts.lambda_seconds.values()) / n, 1e-9)}
    if counts.standard_starts:
        limits["Standard StartExecution"] = q["standard_start_execution_per_second"] \
            / (counts.standard_starts / n)
        limits["Standard transitions"] = q["standard_state_transitions_per_second"] \
            / (counts.standard_transitions / n)
    if counts.express_requests:
        limits["Express StartExecution"] = q["express_start_execution_per_second"] \
            / (counts.express_requests / n)
    binding = min(limits, key=limits.__getitem__)
    return limits[binding], binding


def import_times(runs: int = 5) -> dict[str, float]:
    """Median cumulative `python -X importtime` of each module, in ms, each in a fresh process."""
    def once(module: str) -> float:
        lines = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                               capture_output=True, text=True, check=True).stderr.splitlines()
        return int(lines[-1].split("|")[1]) / 1000

    return {module: statistics.median(once(module) for _ in range(runs))
            for module in ("boto3", *HOT_PATH)}


def measure(machines: tuple[Machine, ...], statemachines_dir: Path | None,
            scale: float) -> dict[str, Counts]:
    config = LocalConfig(aws_port=0, api_port=0, retry_time_scale=scale, machines=machines,
                         keep_finished_executions=10_000, request_timeout=2.0, log_format=None)
    if statemachines_dir is not None:
        config.statemachines_dir = statemachines_dir
    receiver = Arrivals()
    with LocalRuntime(config) as runtime:
        run(runtime, receiver, SCENARIOS[0])  # warm-up: first imports and parses
        return {scenario.name: run(runtime, receiver, scenario) for scenario in SCENARIOS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1e-5,
                        help="retry-time scale of the runtime (waits are priced at full length)")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # dead letters log a warning each
    designs = {"today (Express + Standard tail)": measure(MACHINES, None, args.scale)}
    print(f"$ per million notifications, {PRICES['region']} list prices checked "
          f"{PRICES['checked']} (bench/prices.json); ingress, logs, X-Ray excluded")
    header = (f"{'scenario':<11} {'design':<32} {'SFN':>9} {'Lambda':>8} {'DynamoDB':>9} "
              f"{'SQS':>6} {'total':>9}  {'trans':>5} {'expr':>4} {'λ':>3} {'WRU':>5} "
              f"{'RRU':>5}  ceiling/s (binding quota)")
    print(header)
    for scenario in SCENARIOS:
        for design, results in designs.items():
            counts = results[scenario.name]
            cost, n = per_million(counts), counts.notifications
            limit, binding = ceiling(counts)
            print(f"{scenario.name:<11} {design:<32} {cost.step_functions:>9.2f} "
                  f"{cost.lambda_:>8.2f} {cost.dynamodb:>9.2f} {cost.sqs:>6.2f} "
                  f"{cost.total:>9.2f}  {counts.standard_transitions / n:>5.1f} "
                  f"{counts.express_requests / n:>4.1f} "
                  f"{sum(counts.lambda_invocations.values()) / n:>3.1f} "
                  f"{counts.write_units / n:>5.1f} {counts.read_units / n:>5.1f}  "
                  f"{limit:>9,.0f} ({binding})")
    reconciler = reconciler_cost.measure(args.scale)
    print(reconciler_cost.report(reconciler, PRICES))
    happy = per_million(designs["today (Express + Standard tail)"]["happy"]).total
    print(f"happy path, all told (the reconciler's share included): "
          f"${happy + reconciler_cost.per_event(reconciler, PRICES) * 1_000_000:.2f} per million")
    deliver_gb = MEMORY_GB["stepwire-deliver"]
    print(f"not in these figures: the receiver's own time (here it answers on loopback); each "
          f"100 ms it takes adds "
          f"${0.1 * deliver_gb * PRICES['lambda_per_gb_second_x86'] * 1_000_000:.2f} per "
          f"million (the Deliver function waits for it at {deliver_gb * 1024:.0f} MB)")
    times = import_times()
    print("cold import (python -X importtime, median of 5, ms): " + ", ".join(
        f"{module} {ms:.0f}" for module, ms in times.items()))
    print("  beyond boto3: " + ", ".join(f"{m.split('.')[-1]} {times[m] - times['boto3']:.0f}"
                                         for m in HOT_PATH))
    return 0


if __name__ == "__main__":
    sys.exit(main())
