"""A fault aimed at some calls only: the chaos rules' shape has no filter by caller, and several
Tasks (and handlers) share one service operation.

A real rule with probability 0 for the service and operation is installed (so that every path
consults the registry: the direct Lambda and DynamoDB paths step aside for it), and the
registry's `decide` is wrapped in this process so that it answers the error only to the calls
`aimed` picks, looking at the caller's stack: the interpreter evaluates a Task in the calling
thread, so the innermost moto `StateTask` frame names the state and its environment names the
state machine; a handler's own calls run under its Task's frame. Each decision is one attempt
of the SDK (in-process clients draw their retries: a call fails when all its attempts do).
"""

import sys
import threading
from collections.abc import Callable
from types import FrameType

from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

from stepwire.emulation.chaos.rules import Decision

Decide = Callable[[str, str, str | None], Decision]


def current_task() -> tuple[str, str] | None:
    """(state machine ARN, state name) of the innermost Task being evaluated by this thread."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        state = frame.f_locals.get("self")
        env = frame.f_locals.get("env")
        if isinstance(state, StateTask) and env is not None:
            data = env.states.context_object.context_object_data
            return data["StateMachine"]["Id"], state.name
        frame = frame.f_back
    return None


def calling(function: str) -> bool:
    """Whether a function of that name is on this thread's stack."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


class AimedFault:
    """Answers (status, code) to the first `times` decisions of `service`/`operation` that
    `aimed` picks; `fired` counts them."""

    def __init__(self, service: str, operation: str, status: int, code: str, times: int,
                 aimed: Callable[[], bool]) -> None:
        self.service, self.operation = service, operation.lower()
        self.error = (status, code)
        self.remaining = times
        self.aimed = aimed
        self.fired = 0
        self._lock = threading.Lock()

    def wrap(self, decide: Decide) -> Decide:
        def aimed(service: str, region: str, operation: str | None) -> Decision:
            if service == self.service and (operation or "").lower() == self.operation \
                    and self.aimed():
                with self._lock:
                    if self.remaining > 0:
                        self.remaining -= 1
                        self.fired += 1
                        return Decision(0.0, self.error)
            return decide(service, region, operation)

        return aimed

    def rule(self) -> dict:
        """The rule that never draws: it only makes every path consult the registry."""
        status, code = self.error
        return {"service": self.service, "operation": self.operation, "probability": 0,
                "error": {"statusCode": status, "code": code}}
