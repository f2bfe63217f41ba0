"""What ran, counted where it ran: every DynamoDB request the emulated service answers (any
client, the engine's own tasks included) and every Lambda invocation of the local host.

DynamoDB capacity units follow AWS's rules from the items' sizes: a write is 1 unit per KB of
the item (plus one per global secondary index the item is written to), a strongly consistent
read 1 unit per 4 KB (eventually consistent: half), a query the size of what it returned.
"""

import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from moto.dynamodb.responses import DynamoHandler

from stepwire.host.lambda_host import LambdaHost
from workflows.storage import table

_WRITES = {"PutItem": "Item", "UpdateItem": None, "DeleteItem": None}


def item_size(item: dict) -> int:
    """An item's size as DynamoDB counts it (attribute names plus values), in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return len(json.dumps(inner))


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zero()

    def _zero(self) -> None:
        self.write_units = 0.0
        self.read_units = 0.0
        self.requests: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()
        self.lambda_seconds: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        with self._lock:
            self._zero()

    def dynamodb(self, action: str, request: dict, response: dict) -> None:
        write = read = 0.0
        if action == "PutItem":
            item = request["Item"]
            write = math.ceil(item_size(item) / 1024) * (
                1 + (table.EVENTS_BY_TIME_PARTITION_KEY in item))
        elif action in ("UpdateItem", "DeleteItem"):
            # Billed on the item's size: these rows are small, so one unit (the metered items
            # never carry an index key).
            write = 1
        elif action in ("GetItem", "BatchGetItem", "Query"):
            items = ([response["Item"]] if response.get("Item") else []) if action == "GetItem" \
                else [i for items in response.get("Responses", {}).values() for i in items] \
                if action == "BatchGetItem" else response.get("Items", [])
            consistent = request.get("ConsistentRead") or any(
                r.get("ConsistentRead") for r in request.get("RequestItems", {}).values())
            size = sum(item_size(i) for i in items)
            per_item = action != "Query"  # gets round each item up, a query its total
            units = sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) if per_item \
                else max(1, math.ceil(size / 4096))
            read = units * (1 if consistent else 0.5)
        with self._lock:
            self.requests[action] += 1
            self.write_units += write
            self.read_units += read

    def invoked(self, function: str, seconds: float) -> None:
        with self._lock:
            self.invocations[function] += 1
            self.lambda_seconds[function] += seconds

    def ran(self, function: str, seconds: float) -> None:
        """Seconds of a function whose invocation is priced elsewhere (the ingress)."""
        with self._lock:
            self.lambda_seconds[function] += seconds


@contextmanager
def metering() -> Iterator[Meter]:
    """Count from now until the block ends (patches the emulated DynamoDB and the Lambda host,
    then restores them)."""
    meter = Meter()
    dynamodb_call, invoke = DynamoHandler.call_action, LambdaHost.invoke

    def metered_dynamodb(self: Any) -> Any:
        result = dynamodb_call(self)
        try:
            body = self.body if isinstance(self.body, dict) else json.loads(self.body or "{}")
            meter.dynamodb(self._get_action(), body,
                           json.loads(result[2] or "{}") if result[0] == 200 else {})
        except (ValueError, TypeError, IndexError):
            pass
        return result

    def metered_invoke(self: LambdaHost, function: str, payload: bytes) -> Any:
        started = time.perf_counter()
        try:
            return invoke(self, function, payload)
        finally:
            name = unquote(function).rsplit(":function:", 1)[-1].split(":")[0]
            meter.invoked(name, time.perf_counter() - started)

    # Methods of moto's handler and of the Lambda host wrapped, then restored (monkeypatch).
    DynamoHandler.call_action = metered_dynamodb  # type: ignore[method-assign]
    LambdaHost.invoke = metered_invoke  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        DynamoHandler.call_action = dynamodb_call  # type: ignore[method-assign]
        LambdaHost.invoke = invoke  # type: ignore[method-assign]
