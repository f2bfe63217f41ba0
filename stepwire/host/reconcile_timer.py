"""The reconciler's schedule on this machine: the function the cloud's rule invokes
(`lambdas/handle_reconcile.py`), invoked through the Lambda host every
`RECONCILE_EVERY_SECONDS` × `--retry-time-scale`, as the rule's scheduled event would.

One difference from AWS, and why: the reconciler takes an Express execution whose row has not
been written for the stale age as dead, because AWS ends every Express execution within 5
minutes. Here waits are scaled but computing is not, and an execution may wait its turn in the
admission queue: an Express run can outlive the scaled stale age. So the timer runs the
reconciler only while no Express execution is open (running or queued), which makes the rule
hold here too; `run_now` runs it at once, for a test that knows what it left behind.
"""

import json
import threading
from typing import Any

from lambdas import handle_reconcile
from stepwire.config import LocalConfig
from stepwire.emulation.stepfunctions.executions import running_executions
from stepwire.host.lambda_host import LambdaHost
from stepwire.host.provision import Resources
from workflows.kernel.models import utc_now
from workflows.kernel.observability import logger
from workflows.recovery.reconcile_rules import RECONCILE_EVERY_SECONDS

FUNCTION = "stepwire-reconcile"
# Below this, a tiny --retry-time-scale would run it in a busy loop.
MIN_PERIOD_SECONDS = 0.1


class ReconcileTimer:
    """Registers the reconciler function in the host; `start` times it if `config.reconcile`."""

    def __init__(self, lambdas: LambdaHost, resources: Resources, config: LocalConfig) -> None:
        self._lambdas = lambdas
        lambdas.register(FUNCTION, handle_reconcile.lambda_handler)
        self.period = max(RECONCILE_EVERY_SECONDS * config.retry_time_scale, MIN_PERIOD_SECONDS)
        self._express = tuple(resources.state_machine_arns[m.name] for m in config.machines
                              if m.type == "EXPRESS" and m.name in resources.state_machine_arns)
        self._timed = config.reconcile
        self._stopping = threading.Event()
        self._one_at_a_time = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="stepwire-reconciler",
                                        daemon=True)

    def start(self) -> "ReconcileTimer":
        if self._timed:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def express_idle(self) -> bool:
        """No Express execution running or waiting its turn."""
        return all(running_executions(arn) == 0 for arn in self._express)

    def run_now(self) -> dict[str, Any]:
        """One run at once (after the one under way, if any): the function's answer."""
        event = {"version": "0", "id": f"local-{utc_now().timestamp()}",
                 "detail-type": "Scheduled Event", "source": "aws.events",
                 "time": utc_now().isoformat(timespec="seconds"), "detail": {}}
        with self._one_at_a_time:
            status, headers, body = self._lambdas.invoke(FUNCTION, json.dumps(event).encode())
        answer = json.loads(body or b"{}")
        if status != 200 or "x-amz-function-error" in headers:
            raise RuntimeError(f"the reconciler failed: {answer}")
        return dict(answer)

    def _loop(self) -> None:
        while not self._stopping.wait(self.period):
            if not self.express_idle():
                continue  # not now: an open Express execution may own a stale-looking row
            try:
                self.run_now()
            except Exception:  # a failed run leaves its checkpoint: the next one covers it
                logger.exception("the scheduled reconciler run failed")
