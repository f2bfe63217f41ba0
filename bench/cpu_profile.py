"""CPU per notification, and where it goes: process CPU time over a phase, split by component
from a py-spy profile of this process (GIL-holding samples only: the GIL is the ceiling).

A sample is charged to the component of its innermost recognised frame: a boto3 call made by a
handler counts as an emulated AWS call, the handler's own code as the handler.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# py-spy names a frame "function (path/inside/sys.path.py:line)". Innermost match wins.
COMPONENTS = [
    ("interpreter", ("(moto/stepfunctions/parser/", "(stepwire/emulation/stepfunctions/",
                     "(stepwire/emulation/dynamodb/backend.py", "(stepwire/host/admission.py")),
    ("durable state", ("(stepwire/state/journal.py", "(stepwire/state/durability.py")),
    ("emulated AWS calls", ("(botocore/", "(boto3/", "(moto/")),
    ("HTTP", ("(http/server.py", "(socketserver.py", "(httpx/", "(httpcore/", "(h11/",
              "(socket.py", "(ssl.py", "(bench/", "(werkzeug/serving", "(urllib3/",
              "(stepwire/gateway/api_gateway.py")),
    ("handlers", ("(lambdas/", "(workflows/", "(aws_lambda_powertools/", "(pydantic",
                  "(jwt/", "(standardwebhooks/")),
]


def component_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "other"


class CpuProfile:
    """`with CpuProfile(breakdown=True) as profile:` … `profile.report(notifications)`."""

    def __init__(self, breakdown: bool) -> None:
        self._spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) \
            or shutil.which("py-spy") if breakdown else None
        self._output = Path(tempfile.mkdtemp(prefix="stepwire-profile-")) / "raw.txt"
        self._process: subprocess.Popen | None = None
        self.cpu_seconds = 0.0

    def __enter__(self) -> "CpuProfile":
        if self._spy:
            self._process = subprocess.Popen(
                [self._spy, "record", "--gil", "--nonblocking", "-r", "100", "-f", "raw",
                 "-o", str(self._output), "--pid", str(os.getpid())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # attached before the phase starts
        self._started = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_seconds = time.process_time() - self._started
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(timeout=60)

    def shares(self) -> dict[str, float]:
        samples: Counter[str] = Counter()
        if self._output.exists():
            for line in self._output.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                samples[component_of(stack.split(";"))] += int(count)
        total = sum(samples.values())
        return {name: n / total for name, n in samples.most_common()} if total else {}

    def report(self, notifications: int) -> dict:
        per = self.cpu_seconds * 1000 / max(notifications, 1)
        return {"cpu_ms_per_notification": round(per, 1),
                "breakdown_ms": {name: round(per * share, 1)
                                 for name, share in self.shares().items()}}
