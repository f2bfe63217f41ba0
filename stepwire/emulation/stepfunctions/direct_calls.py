"""Less work per task in moto's ASL interpreter, the same results (measured in `make bench`).

- Each Task state ran in a new thread (to stop waiting on it at TimeoutSeconds) and each
  execution's program in another: about a quarter of the busy time went to `Thread.start`.
  They now run in the execution's own thread. A task that overruns its TimeoutSeconds still
  fails with States.Timeout, once it returns (moto never stopped it either); a state machine
  with a top-level TimeoutSeconds keeps moto's thread.
- `lambda:invoke` tasks went through botocore (serialize, the before-send hook, parse) to reach
  a handler in the same process: they now call the Lambda host directly, with the same
  request and response shapes. A function the host does not know still takes the botocore
  path (and fails as moto's Lambda would).
- DynamoDB and Step Functions calls of this process's boto3 clients (the handlers' store, the
  API's StartExecution, the ASL's dynamodb and startExecution tasks) still serialize their
  request and parse the answer with botocore, but skip what lies between: signing, the retry
  loop, moto's search of every service's URL patterns. The request reaches moto's front end
  for the service (so the write lock and the journal apply) as it would have; only while the
  local runtime is up.
- While an AWS fault rule (`stepwire/emulation/chaos/`) may touch a service, its calls take
  botocore's own path again, where the fault is served and the SDK's retries see it.
"""

import io
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.parsers import create_parser
from moto.core.botocore_stubber import MockRawResponse
from moto.core.request import normalize_request
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.responses import StepFunctionResponse

from stepwire.emulation.chaos.rules import FAULTS
from stepwire.host import lambda_host


class _InlineThread:
    """Runs its target in the caller's thread when started."""

    def __init__(self, target: Callable[..., None], args: tuple = (), daemon: bool = True,
                 **_: Any) -> None:
        self._target, self._args = target, args

    def start(self) -> None:
        self._target(*self._args)

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return False


class _ElapsedEvent(threading.Event):
    """`wait(timeout)` is False when the event was set later than `timeout` after creation:
    the verdict a waiting thread would have reached, for work that ran inline."""

    def __init__(self) -> None:
        super().__init__()
        self._created = time.monotonic()
        self._set_at: float | None = None

    def set(self) -> None:
        self._set_at = time.monotonic()
        super().set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._set_at is None:
            return super().wait(timeout)
        return timeout is None or self._set_at - self._created <= timeout


class _InlineThreading:
    """Stands in for the `threading` module where a Task state is evaluated."""

    Event = _ElapsedEvent

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _NoTmpThreads(list):
    """moto keeps every worker thread in a list; inline work has none to keep."""

    def append(self, thread: Any) -> None:
        if not isinstance(thread, _InlineThread):
            super().append(thread)


_program_eval = program.Program.eval


def _program_eval_inline(self: Any, env: Any) -> None:
    if self.timeout_seconds is not None:
        return _program_eval(self, env)
    env.next_state_name = self.start_at.start_at_name
    EvalComponent.eval(self, env)


_invoke_via_botocore = lambda_eval_utils._invoke_lambda_function


def _invoke_in_process(parameters: dict, region: str, state_credentials: Any) -> dict:
    if FAULTS.active and FAULTS.touches("lambda"):
        return _invoke_via_botocore(parameters, region, state_credentials)
    payload = parameters.get("Payload", b"")
    if isinstance(payload, str):
        payload = payload.encode()
    answered = lambda_host.invoke_active(parameters["FunctionName"], payload)
    if answered is None:
        return _invoke_via_botocore(parameters, region, state_credentials)
    status, headers, body = answered
    response: dict[str, Any] = {"StatusCode": status, "ExecutedVersion": "$LATEST",
                                "Payload": lambda_eval_utils._from_payload(io.BytesIO(body))}
    if "x-amz-function-error" in headers:
        response["FunctionError"] = headers["x-amz-function-error"]
    return response


_direct = threading.Event()
# botocore's event name of the service → moto's front end for it (both speak AWS JSON).
_FRONT_ENDS = {"dynamodb": DynamoHandler, "sfn": StepFunctionResponse}
_SERVICES = {"dynamodb": "dynamodb", "sfn": "stepfunctions"}  # the fault rules' names


@cache
def _json_parser() -> Any:
    return create_parser("json")


def _direct_call(model: Any, params: dict, context: Any = None, event_name: str = "",
                 **_: Any) -> Any:
    """For `before-call.<service>`: (response, parsed) as botocore's own send would give."""
    if not _direct.is_set():
        return None
    service = event_name.split(".")[1]
    if FAULTS.active and FAULTS.touches(_SERVICES[service]):
        return None
    front_end = _FRONT_ENDS[service]
    request = normalize_request(AWSPreparedRequest(
        method=params["method"], url=params["url"], headers=params["headers"],
        body=params["body"], stream_output=False))
    status, headers, body = front_end.dispatch(request, request.raw_url, request.headers)
    raw = body.encode() if isinstance(body, str) else body
    http = AWSResponse(params["url"], status, headers, MockRawResponse(raw))
    parsed = _json_parser().parse({"headers": http.headers, "status_code": status,
                                   "body": raw, "context": context}, model.output_shape)
    return http, parsed


def direct_calls(on: bool) -> None:
    for service in _FRONT_ENDS:
        hook = (f"before-call.{service}", _direct_call)
        if hook not in botocore.handlers.BUILTIN_HANDLERS:  # clients created from now on
            botocore.handlers.BUILTIN_HANDLERS.append(hook)
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION._session.register(*hook)
    if on:
        _direct.set()
    else:
        _direct.clear()


def install() -> None:
    # moto's names replaced (monkeypatch): a stand-in class, module and method.
    execute_state.Thread = _InlineThread  # type: ignore[misc, assignment]
    execute_state.threading = _InlineThreading()  # type: ignore[assignment]
    execute_state.TMP_THREADS = _NoTmpThreads(execute_state.TMP_THREADS)
    program.Program.eval = _program_eval_inline  # type: ignore[method-assign]
    lambda_eval_utils._invoke_lambda_function = _invoke_in_process
