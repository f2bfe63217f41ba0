"""AWS's documented limits, enforced by the local engine at all times, with the errors AWS
answers (docs/decisions.md, "AWS limits enforced locally")."""

from stepwire.emulation import service_limits
from stepwire.emulation.stepfunctions import execution_limits, payload_limits


def install() -> None:
    payload_limits.install()
    execution_limits.install()
    service_limits.install()
