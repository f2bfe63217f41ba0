"""What `stepwire local` is told (`LocalConfig`, one field per CLI option), and the check that
its ports are free before anything starts."""

import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stepwire.host.api_keys import configured_tiers
from stepwire.host.provision import MACHINES, STATEMACHINES_DIR, Machine
from workflows.auth.usage_plans import DEFAULT_TIER, Tier


@dataclass
class LocalConfig:
    aws_port: int = 4566
    api_port: int = 8080
    host: str = "127.0.0.1"  # the API's address
    # The emulated AWS endpoint hands out every key and secret to whoever reaches it: it
    # listens on loopback only unless this is set explicitly.
    expose_aws_endpoint: bool = False
    retry_time_scale: float = 1.0
    deny_private_targets: bool = False
    # Webhook timeouts (seconds): the contract's defaults; tests shorten them.
    connect_timeout: float = 5.0
    request_timeout: float = 15.0
    # Finished executions kept per state machine for inspection; older ones are pruned so
    # memory stays flat (the attempt log in the table keeps the whole trace).
    keep_finished_executions: int = 200
    # Off only to measure the engine as moto ships it (make bench compares both).
    optimize_engine: bool = True
    # The default tier's limits here (requests/s sustained, burst), for demos, tests and
    # benchmarks; None: the cloud's (STEPWIRE_TENANT_TIERS, or 20/s with bursts of 40).
    api_rate: int | None = None
    api_burst: int | None = None
    # Which state machine files run: only `make cost` changes them, to price today's design
    # against the previous one on the same engine.
    machines: tuple[Machine, ...] = MACHINES
    statemachines_dir: Path = STATEMACHINES_DIR
    # The activity log lines on stderr: "human" or "json"; None prints nothing.
    log_format: str | None = "human"
    # Where state survives a stop or a crash; None keeps everything in memory (tests).
    state_dir: str | None = None
    checkpoint_seconds: float = 30.0
    # Stored partitions unused this long are packed (stepwire/emulation/dynamodb/at_rest.py).
    pack_seconds: float = 10.0
    # Executions computing at once (the admission queue's pool); the rest wait their turn.
    workers: int = 8
    # Delivering executions (notification, long tail, recovery) of one tenant, and of one
    # endpoint, computing at once (stepwire/host/admission.py): a slow receiver holds at most
    # its share of the workers, the rest serve other tenants. None: half the workers each (an
    # endpoint's cap below its tenant's shares the tenant's half among its endpoints; at a
    # quarter, one endpoint's deliveries to an in-process receiver took 40% longer).
    max_deliveries_per_tenant: int | None = None
    max_deliveries_per_endpoint: int | None = None

    def tenant_tiers(self) -> dict[str, Tier]:
        """The tiers' usage plans: the configured ones, the default tier's limits replaced by
        `api_rate`/`api_burst` when given (ValueError when they make no tier)."""
        tiers = configured_tiers()
        if self.api_rate is None and self.api_burst is None:
            return tiers
        default = tiers[DEFAULT_TIER]
        rate = default.rate if self.api_rate is None else self.api_rate
        burst = max(default.burst, rate) if self.api_burst is None else self.api_burst
        return {**tiers, DEFAULT_TIER: replace(default, rate=rate, burst=burst)}

    @property
    def delivery_caps(self) -> tuple[int, int]:
        """(per tenant, per endpoint) in force, at least one each."""
        tenant = self.max_deliveries_per_tenant or max(1, self.workers // 2)
        return tenant, min(tenant, self.max_deliveries_per_endpoint or tenant)
    # AWS fault rules in force from the start (stepwire/emulation/chaos/), and the seed of
    # their probability draws (None: a new sequence each run).
    aws_faults: tuple[dict[str, Any], ...] = ()
    aws_faults_seed: int | None = None
    # The reconciler on its schedule (stepwire/host/reconcile_timer.py): on in `stepwire
    # local` (--no-reconciler turns it off); off in process unless asked, so that a test or a
    # benchmark runs it only when it means to (LocalRuntime.reconciler.run_now).
    reconcile: bool = False


class PortInUse(Exception):
    def __init__(self, port: int, option: str, reason: str) -> None:
        super().__init__(f"port {port} is already in use ({reason}): stop what uses it, or "
                         f"choose another port with {option} PORT")
        self.port = port
        self.option = option


def ensure_free(host: str, port: int, option: str) -> None:
    """Bind and release the port as the servers will (SO_REUSEADDR): a taken port is named with
    the option that changes it, not a traceback from deep inside a server."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(port, option, exc.strerror or str(exc)) from None
