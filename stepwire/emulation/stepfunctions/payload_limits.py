"""Step Functions' payload quota as AWS enforces it: 262,144 bytes, the UTF-8 encoded JSON.

- StartExecution with a larger `input` is refused with `ValidationException` (400), the
  API's answer to a value over its field's length constraint, before anything else is looked
  at; every caller meets it (in-process boto3, the AWS endpoint, the ASL's startExecution).
- In an execution, `States.DataLimitExceeded` fails the state when its input after Parameters
  (or a Map item after ItemSelector) is larger, when its output is, and when a task's result
  is (moto checked the last two with `<` and ASCII-escaped JSON: 262,144 bytes were refused,
  and non-ASCII text counted 6 bytes a character).
- `States.DataLimitExceeded` and `States.Runtime` are terminal: the wildcards (`States.ALL`,
  `States.TaskFailed`) of a Retry or Catch do not match them; only their own name does.

Cost: one `json.dumps` per Parameters or ItemSelector evaluation; the output and result checks
replace moto's own (one serialization each, as before).
"""

import json
from typing import Any

from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state
from moto.stepfunctions.parser.asl.component.state.exec.state_map import item_selector
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

PAYLOAD_LIMIT = 262_144
DATA_LIMIT_EXCEEDED = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()
# Documented as uncatchable by States.ALL (concepts-error-handling, "Error names").
TERMINAL_ERRORS = frozenset({DATA_LIMIT_EXCEEDED, StatesErrorNameType.StatesRuntime.to_name()})


def _plain(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def utf8_size(text: str) -> int:
    # `isascii` is O(1) in CPython: most payloads are never encoded.
    return len(text) if text.isascii() else len(text.encode())


def json_size(value: Any) -> int:
    return utf8_size(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                default=_plain))


def fits(value: Any) -> bool:
    return json_size(value) <= PAYLOAD_LIMIT


# --- StartExecution ----------------------------------------------------------------------

_start_execution = StepFunctionsParserBackend.start_execution


def _start_within_quota(self: Any, state_machine_arn: str, name: Any = None,
                        execution_input: Any = None, trace_header: Any = None) -> Any:
    if execution_input is not None and utf8_size(execution_input) > PAYLOAD_LIMIT:
        raise ValidationException(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {PAYLOAD_LIMIT}")
    return _start_execution(self, state_machine_arn, name, execution_input, trace_header)


# --- inside an execution -----------------------------------------------------------------

def _check_input(env: Any) -> None:
    if fits(env.stack[-1]):
        return
    cause = (f"The state/task '{env.next_state_name}' has an input with a size exceeding "
             "the maximum number of bytes service limit.")
    details: Any = {"taskFailedEventDetails": TaskFailedEventDetails(
        error=DATA_LIMIT_EXCEEDED, cause=cause)}
    raise FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
        event_type=HistoryEventType.TaskFailed, event_details=details))


_parargs_eval = parargs.Parargs._eval_body
_item_selector_eval = item_selector.ItemSelector._eval_body


def _parargs_within_quota(self: Any, env: Any) -> None:
    _parargs_eval(self, env)
    _check_input(env)


def _item_within_quota(self: Any, env: Any) -> None:
    _item_selector_eval(self, env)
    _check_input(env)


_error_equals_eval = error_equals_decl.ErrorEqualsDecl._eval_body


def _terminal_errors_named_only(self: Any, env: Any) -> None:
    """A terminal error matches a Retry or Catch only where its own name is listed."""
    error = getattr(env.stack[-1], "error_name", None)
    if error in TERMINAL_ERRORS and all(n.error_name != error for n in self.error_names):
        env.stack[-1] = False
        return
    _error_equals_eval(self, env)


def install() -> None:
    # moto's names replaced (monkeypatch): the quota check where moto has one, and ours.
    StepFunctionsParserBackend.start_execution = _start_within_quota  # type: ignore[method-assign]
    for module in (state, state_task_lambda, state_task_service):
        module.is_within_size_quota = fits  # type: ignore[attr-defined]
    parargs.Parargs._eval_body = _parargs_within_quota  # type: ignore[method-assign]
    item_selector.ItemSelector._eval_body = _item_within_quota  # type: ignore[method-assign]
    error_equals_decl.ErrorEqualsDecl._eval_body = (  # type: ignore[method-assign]
        _terminal_errors_named_only)
