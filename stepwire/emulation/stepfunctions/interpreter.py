"""moto's ASL interpreter, made fit for a long-running host with the same results.

- speed: each execution re-parsed its definition with ANTLR (tens of ms) and each task built a
  new boto3 client; a definition is now parsed once and its program shared by every
  execution (retry counters live in each execution's own environment), and clients are
  reused; moto's EventBridge and the interpreter (ResultPath included) re-parsed the same
  JSONPath expressions at every use: parses are cached; moto's response classes listed their
  own methods with `inspect` at every request: the list is cached;
- intrinsic functions: the interpreter unescapes their string literals with `ast.literal_eval`,
  which CPython 3.11 does not make safe across threads ("AST constructor recursion depth
  mismatch", seen as a States.Runtime failure under load): those calls are serialized;
- the `states:startExecution` integration: moto passes the ASL's parameter names
  (`StateMachineArn`) to boto3 unconverted; they are renamed to the API's (`stateMachineArn`).
"""

import ast
import sys
import threading
from functools import cache
from typing import Any

import botocore.session
import jsonpath_ng.ext
from botocore import xform_name
from moto.core import responses as moto_responses
from moto.stepfunctions.parser.asl.antlt4utils import antlr4utils
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from stepwire.emulation.stepfunctions import direct_calls


@cache
def _sfn_operations() -> dict[str, Any]:
    model = botocore.session.get_session().get_service_model("stepfunctions")
    return {xform_name(name): model.operation_model(name) for name in model.operation_names}


_sfn_normalise = state_task_service_sfn.StateTaskServiceSfn._normalise_parameters


def _sfn_parameters_in_api_case(self: Any, parameters: dict, boto_service_name: Any = None,
                                service_action_name: Any = None) -> None:
    _sfn_normalise(self, parameters, boto_service_name, service_action_name)
    operation = _sfn_operations()[self._get_boto_service_action(service_action_name)]
    self._to_boto_request(parameters, operation.input_shape)


def _status(self: Any) -> str:
    # AWS never lists an execution without a status: one being started is running.
    return self.exec_status.value if self.exec_status is not None else "RUNNING"


def fix_sfn_integration() -> None:
    # moto's method replaced (monkeypatch).
    state_task_service_sfn.StateTaskServiceSfn._normalise_parameters = (  # type: ignore[method-assign]
        _sfn_parameters_in_api_case)
    # moto lists an execution before its worker set a status (ListExecutions with a status
    # filter then raised AttributeError: a 500 no AWS client ever sees).
    Execution.status = property(_status)  # type: ignore[method-assign,assignment]


_parsed: dict[str, Any] = {}
_parsing = threading.Lock()


def _fix_heap_keys(root: Any) -> None:
    """Give every component of a parsed program its heap key now. A component's key names its
    per-execution state (retry counters, backoff) in the execution's own `env.heap`; moto draws
    it lazily, so two executions sharing the program could each draw one and lose a count."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            node.heap_key  # noqa: B018 - drawn and kept by the property
        if isinstance(node, Component):
            pending.extend(vars(node).values())
        elif isinstance(node, list | tuple | set | frozenset):
            pending.extend(node)
        elif isinstance(node, dict):
            pending.extend(node.values())


def _shared_program(self: Any) -> Any:
    """The parsed program of this execution's definition, parsed once and shared: a program
    keeps no execution state of its own (that lives in the execution's Environment), once its
    heap keys are fixed."""
    definition = self._evaluation_details.state_machine_details.definition
    program = _parsed.get(definition)
    if program is None:
        with _parsing:
            program = _parsed.get(definition)
            if program is None:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _fix_heap_keys(program)
                _parsed[definition] = program
    return program


_new_client = boto_client.boto_client_for


@cache
def _shared_client(region: str, service: str, state_credentials: Any = None) -> Any:
    return _new_client(region, service, state_credentials)


def _reused_client(region: str, service: str, state_credentials: Any = None) -> Any:
    # boto3 clients are thread-safe; the state's credentials are ignored by moto anyway.
    return _shared_client(region, service)


def speed_up() -> None:
    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        # EventBridge imports `parse` at each call: the cached function is the one it finds.
        # The ASL interpreter bound it at import: its binding is replaced too.
        jsonpath_ng.ext.parse = cache(jsonpath_ng.ext.parse)
        json_path.parse = jsonpath_ng.ext.parse
        # ResultPath builds a new (yacc) parser for plain JSONPath at every state.
        result_path.parse = cache(jsonpath_ng.parse)
        moto_responses.method_names_from_class = cache(moto_responses.method_names_from_class)
    ExecutionWorker._get_evaluation_entrypoint = (  # type: ignore[method-assign]  # patches moto
        _shared_program)
    direct_calls.install()
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions") and \
                getattr(module, "boto_client_for", None) is _new_client:
            # A moto module found by name: mypy does not know its attributes.
            module.boto_client_for = _reused_client  # type: ignore[attr-defined]


class _SerializedAst:
    """Stands in for the `ast` module where the interpreter calls `literal_eval`."""

    _lock = threading.Lock()

    def literal_eval(self, node_or_string: Any) -> Any:
        with self._lock:
            return ast.literal_eval(node_or_string)

    def __getattr__(self, name: str) -> Any:
        return getattr(ast, name)


def serialize_literal_eval() -> None:
    antlr4utils.ast = _SerializedAst()  # type: ignore[assignment]  # stands in for moto's `ast`
