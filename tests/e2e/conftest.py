"""The e2e tier: `stepwire local` in its own process, reached only over HTTP, as a user would."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.support.receiver import free_port
from workflows import wiring

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.001
REQUEST_TIMEOUT = 1.0
# The default tier's limits, as generous as the functional harness's: the tier measures the
# platform, not the API's throttle (the tests poll it fast), unless a test names its own.
GENEROUS_API = ("--api-rate", "10000", "--api-burst", "10000")


@dataclass
class LocalProcess:
    process: subprocess.Popen
    aws_endpoint: str
    api_url: str
    banner: str
    log_path: Path  # the activity lines (stderr)
    # stdout after the banner, read as it comes: a full pipe would block the process.
    output: list[str] = field(default_factory=list)
    output_reader: threading.Thread | None = None

    def read_output(self) -> "LocalProcess":
        self.output_reader = threading.Thread(target=self.output.extend,
                                              args=(self.process.stdout,), daemon=True)
        self.output_reader.start()
        return self

    def log(self) -> str:
        return self.log_path.read_text()

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:{kind}:{name}"


def start_local(*extra: str, ports: tuple[int, int] | None = None,
                cloud_tiers: bool = False) -> LocalProcess:
    """In memory unless `extra` names a --state-dir; `ports` (AWS, API) to restart in place;
    the tiers' limits as in AWS with `cloud_tiers`, else generous unless `extra` names them."""
    aws_port, api_port = ports or (free_port(), free_port())
    if "--state-dir" not in extra:
        extra = ("--ephemeral", *extra)
    if not cloud_tiers and "--api-rate" not in extra:
        extra = (*extra, *GENEROUS_API)
    # stderr to a file: a pipe nobody reads while the tests run would fill and block it.
    log_path = Path(tempfile.mkstemp(prefix="stepwire-local-", suffix=".log")[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "stepwire.cli", "local", "--aws-port", str(aws_port),
         "--api-port", str(api_port), "--retry-time-scale", str(TIME_SCALE),
         "--request-timeout", str(REQUEST_TIMEOUT), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True)
    banner = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("stepwire local exited early:\n" + "".join(banner)
                               + log_path.read_text())
        banner.append(line)
        if "Ctrl-C to stop" in line:
            return LocalProcess(process, f"http://127.0.0.1:{aws_port}",
                                f"http://127.0.0.1:{api_port}", "".join(banner),
                                log_path).read_output()
    process.kill()
    raise RuntimeError("stepwire local did not start in 60 s:\n" + "".join(banner))


def stop_local(local: LocalProcess) -> tuple[int, str]:
    local.process.send_signal(signal.SIGTERM)
    # A clean stop writes a last snapshot: seconds on a busy machine; a hang still fails here.
    local.process.wait(timeout=90)
    if local.output_reader is not None:
        local.output_reader.join(timeout=5)
    return local.process.returncode, "".join(local.output) + local.log()


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProcess]:
    running = start_local()
    # This process reaches the same emulated APIs over HTTP, as any AWS client would.
    saved = dict(os.environ)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STEPWIRE_AWS_ENDPOINT_URL": running.aws_endpoint,
        "STEPWIRE_TABLE_NAME": "stepwire",
        "STEPWIRE_IDEMPOTENCY_TABLE_NAME": "stepwire-idempotency",
        "STEPWIRE_DATA_KEY_SECRET_ID": "stepwire/data-key",
        "STEPWIRE_JWT_SECRET_ID": "stepwire/jwt-signing-key",
        "STEPWIRE_DEAD_LETTER_QUEUE_URL":
            f"{running.aws_endpoint}/123456789012/stepwire-dead-letters",
        "STEPWIRE_INGEST_STATE_MACHINE_ARN": running.arn("stateMachine", "stepwire-ingest"),
        "STEPWIRE_NOTIFICATION_STATE_MACHINE_ARN": running.arn("stateMachine",
                                                               "stepwire-notification"),
        "STEPWIRE_RECOVERY_STATE_MACHINE_ARN": running.arn("stateMachine", "stepwire-recovery"),
        "STEPWIRE_ALLOW_PRIVATE_TARGETS": "true", "STEPWIRE_REQUIRE_HTTPS": "false",
    })
    wiring.reset()
    try:
        yield running
    finally:
        code, output = stop_local(running)
        os.environ.clear()
        os.environ.update(saved)
        wiring.reset()
        assert code == 0, f"stepwire local did not stop cleanly ({code}):\n{output}"
