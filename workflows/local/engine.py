"""Adjustments of moto's ASL interpreter for a long-running, one-machine host.

- time: every wait of the workflows (Retry intervals and Wait states) is multiplied by a factor;
- memory: finished executions beyond a window are pruned, as are finished worker threads;
  moto kept every model object it ever made (each version of each DynamoDB item, a copy of
  the state machine per execution) in a list for its server's dashboard, which is not served
  here: nothing is kept there now;
- logs: moto logs every caught error at length; only critical messages are kept;
- DynamoDB: moto's table is not safe for concurrent writers (a write can run while a query
  iterates): its calls are serialized; a query of the table sorted every item of every
  partition before picking its own: it now reads its partition only; a query of an index
  read every item: it now reads those of its index partition (the others may stay packed,
  see dynamodb_at_rest.py); and a transaction deep-copied every item of its tables to roll back
  with (parking 1,000 notifications took minutes): it now keeps only the items it touches;
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
import copy
import ctypes
import logging
import sys
import threading
import time as _time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

import botocore.session
import jsonpath_ng.ext
from botocore import xform_name
from moto.core import responses as moto_responses
from moto.core.common_models import BaseModel
from moto.core.model_instances import reset_model_data
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.asl.antlt4utils import antlr4utils
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from workflows.local import dynamodb_at_rest, inline

# What an execution's sleep runs inside: the admission queue lends the sleeper's slot out.
sleeping: Callable[[], AbstractContextManager] = nullcontext


class _ScaledClock:
    """Stands in for the `time` module where the interpreter sleeps."""

    factor = 1.0

    def sleep(self, seconds: float) -> None:
        with sleeping():
            _time.sleep(seconds * self.factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


_clock = _ScaledClock()


# Told of every Wait state about to wait: (state name, the workflow's seconds, the state's input).
WaitObserver = Callable[[str, float, Any], None]
_wait_observers: list[WaitObserver] = []


def on_wait(observer: WaitObserver | None) -> None:
    """Set (or with None clear) the one observer of Wait states (the runtime's log lines)."""
    _wait_observers[:] = [observer] if observer else []


def _scaled_wait(self: Any, env: Any, wait_seconds: float) -> None:
    for observer in _wait_observers:
        try:
            state = (env.states.context_object.context_object_data.get("State") or {})
            observer(state.get("Name", "Wait"), wait_seconds, env.states.get_input())
        except Exception:  # noqa: BLE001 - a log line must never stop a workflow
            pass
    # A stopped execution sets the event and ends the wait early, as in moto's own version.
    if wait_seconds > 0:
        with sleeping():
            env.program_state_event.wait(wait_seconds * _clock.factor)


def set_time_scale(factor: float) -> None:
    """`factor` 0.01 makes every workflow wait 100 times shorter."""
    if factor <= 0:
        raise ValueError("the time scale must be positive")
    _clock.factor = factor
    retrier_decl.time = _clock
    wait_function.WaitFunction._wait_interval = _scaled_wait


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


def fix_sfn_integration() -> None:
    state_task_service_sfn.StateTaskServiceSfn._normalise_parameters = _sfn_parameters_in_api_case


# Reentrant: the durable state journals a write under the same lock (see durability.py).
state_lock = threading.RLock()
_dynamodb_call = DynamoHandler.call_action


def _serialized_dynamodb_call(self: Any) -> Any:
    with state_lock:
        return _dynamodb_call(self)


_table_query, _table_all_items = Table.query, Table.all_items
_querying = threading.local()


def _partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    # moto passes index_name as the 8th positional argument.
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    _querying.partition = hash_key if index_name is None else None
    _querying.index_partition = kwargs.get("hash_key_conditions") if index_name else None
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _querying.partition = _querying.index_partition = None


def _items_of_partition(self: Any) -> list[Any]:
    index_partition = getattr(_querying, "index_partition", None)
    if index_partition:
        return dynamodb_at_rest.items_of_index_partition(self, index_partition)
    partition = getattr(_querying, "partition", None)
    if partition is None or not self.range_key_attr:
        return _table_all_items(self)
    return sorted(self.items.get(partition, {}).values(), key=lambda item: item.range_key)


class _TablesKeptInPlace:
    """Stands in for the `copy` module of moto's DynamoDB backend, whose transactions back up
    each whole table first: a table is kept as it is (the touched items are backed up
    instead, below); anything else is copied as before."""

    def deepcopy(self, value: Any) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_keeping_touched_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    # Serialized (above): nothing but this transaction changes the table meanwhile, so rolling
    # back the items it touches is rolling back the transaction.
    kept = []
    for entry in transact_items:
        for op in entry.values():
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = op.get("Key") or {name: op.get("Item", {}).get(name)
                                    for name in (table.hash_key_attr, table.range_key_attr)
                                    if name}
            try:
                before = self.get_item(table.name, key)
            except Exception:  # noqa: BLE001 - a bad key: moto's own call answers it
                continue
            kept.append((table, key, copy.deepcopy(before)))
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, key, before in reversed(kept):
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr \
                else None
            table.delete_item(hash_value, range_value)
            if before is not None and range_value is not None:
                table.items[hash_value][range_value] = before
            elif before is not None:
                table.items[hash_value] = before
        raise


def serialize_dynamodb() -> None:
    DynamoHandler.call_action = _serialized_dynamodb_call
    Table.query = _partition_query
    Table.all_items = _items_of_partition
    dynamodb_models.copy = _TablesKeptInPlace()
    DynamoDBBackend.transact_write_items = _transact_keeping_touched_items


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
    ExecutionWorker._get_evaluation_entrypoint = _shared_program
    inline.install()
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions") and \
                getattr(module, "boto_client_for", None) is _new_client:
            module.boto_client_for = _reused_client


class _SerializedAst:
    """Stands in for the `ast` module where the interpreter calls `literal_eval`."""

    _lock = threading.Lock()

    def literal_eval(self, node_or_string: Any) -> Any:
        with self._lock:
            return ast.literal_eval(node_or_string)

    def __getattr__(self, name: str) -> Any:
        return getattr(ast, name)


def serialize_literal_eval() -> None:
    antlr4utils.ast = _SerializedAst()


def quiet_logging() -> None:
    for name in ("moto.stepfunctions", "moto.stepfunctions.parser", "werkzeug"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _state_machines() -> list[Any]:
    # With the interpreter on, moto keeps executions in the parser's backends.
    return [machine for account in stepfunctions_parser_backends.values()
            for backend in account.values() for machine in backend.state_machines]


def _running(execution: Any) -> bool:
    # An execution is listed a moment before moto gives it a status: it is starting.
    return execution.exec_status is None or execution.exec_status.value == "RUNNING"


def running_executions(state_machine_arn: str) -> int:
    return sum(1 for machine in _state_machines() if machine.arn == state_machine_arn
               for e in machine.executions if _running(e))


def prune_finished_executions(keep: int) -> int:
    """Keep the newest `keep` finished executions per state machine; returns how many went."""
    removed = 0
    for machine in _state_machines():
        finished = [e for e in machine.executions if not _running(e)]
        # One remove at a time: a start_execution may append concurrently.
        for execution in finished[:max(len(finished) - keep, 0)]:
            machine.executions.remove(execution)
            removed += 1
    parser_utils.TMP_THREADS[:] = [t for t in parser_utils.TMP_THREADS if t.is_alive()]
    return removed


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return super(BaseModel, cls).__new__(cls)


def forget_model_objects() -> None:
    """moto's `BaseModel` appends every instance to its class's `instances_tracked`, so
    nothing it makes is ever freed: over 10,000 notifications that was most of the growth."""
    BaseModel.__new__ = staticmethod(_untracked_new)
    reset_model_data()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`: hands the heap's free pages back to the system (None elsewhere)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class Pruner(threading.Thread):
    """Every `interval` seconds prunes finished executions and packs the DynamoDB partitions
    unused for `pack_after` seconds; every `trim_every` passes returns the freed heap to
    the system (glibc keeps it otherwise), so that memory stays flat."""

    def __init__(self, keep: int, interval: float = 2.0, pack_after: float = 10.0,
                 trim_every: int = 5) -> None:
        super().__init__(name="stepwire-pruner", daemon=True)
        self._keep = keep
        self._interval = interval
        self._pack_after = pack_after
        self._trim_every = trim_every
        self._stopped = threading.Event()

    def run(self) -> None:
        passes = 0
        while not self._stopped.wait(self._interval):
            prune_finished_executions(self._keep)
            with state_lock:
                dynamodb_at_rest.pack_partitions(self._pack_after)
            passes += 1
            trim = _malloc_trim()
            if trim is not None and passes % self._trim_every == 0:
                trim(0)

    def stop(self) -> None:
        self._stopped.set()
