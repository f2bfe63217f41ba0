"""Less work per DynamoDB request in moto, the same answers (measured in `make bench`).

- Answers: moto turns every result into JSON with a serializer driven by the API model, which
  looks each member up under several spellings (about a third of a request's time here). An
  item operation's result is already in the wire format (attribute values as `{"S": ...}`),
  so it is written with `json.dumps` when a walk along the output shape finds nothing that
  the model-driven serializer would change (a member it would drop, a null, a blob or a
  timestamp); otherwise, and for every error, moto's own serializer answers.
- Update expressions: moto parses the same expression text at every UpdateItem; the parse is
  cached (its validator works on a deep copy, so the cached tree is never changed).
- New items: moto checks the 400 KB item limit at each attribute it adds, summing the sizes
  of all the attributes added before (about 0.2 ms for one of our items): the sum is taken
  once, with the same limit.
"""

import json
from functools import lru_cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

# moto's module opts out of type checking (`# type: ignore` at its top): mypy sees no names.
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

# The item operations: their outputs carry no timestamps and no blobs outside item values.
ITEM_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems"})
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "string": str, "boolean": bool, "integer": int, "long": int, "double": (int, float),
    "float": (int, float)}


def wire_ready(value: Any, shape: Shape) -> bool:
    """True when `value` is exactly what the serializer would write for `shape`."""
    if isinstance(shape, StructureShape):
        members = shape.members
        return isinstance(value, dict) and all(
            name in members and item is not None and wire_ready(item, members[name])
            for name, item in value.items())
    if isinstance(shape, ListShape):
        return isinstance(value, list) and all(
            item is not None and wire_ready(item, shape.member) for item in value)
    if isinstance(shape, MapShape):
        return isinstance(value, dict) and all(
            isinstance(key, str) and item is not None and wire_ready(item, shape.value)
            for key, item in value.items())
    expected = _SCALARS.get(shape.type_name)  # blobs and timestamps are converted: never
    return expected is not None and isinstance(value, expected) and (
        shape.type_name == "boolean" or not isinstance(value, bool))


def wire_answer(handler: Any, action_result: ActionResult) -> tuple | None:
    """(status, headers, body) written with `json.dumps`, or None where only moto's
    serializer gives the right answer."""
    action = handler._get_action()
    result = action_result.result
    if action not in ITEM_OPERATIONS or not isinstance(result, dict):
        return None
    shape = _operation_model(action).output_shape
    if shape is None or not wire_ready(result, shape):
        return None
    headers = {"Content-Type": "application/x-amz-json-1.0", **handler.response_headers}
    return 200, headers, json.dumps(result, separators=(",", ":"))


model_serialized = BaseResponse.serialized


def _serialized(self: Any, action_result: ActionResult) -> Any:
    return wire_answer(self, action_result) or model_serialized(self, action_result)


@lru_cache(maxsize=64)
def _operation_model(action: str) -> Any:
    return get_service_model("dynamodb").operation_model(action)


class _CachedUpdateExpressions:
    """Stands in for `UpdateExpressionParser` where moto's DynamoDB parses update expressions."""

    make = staticmethod(lru_cache(maxsize=512)(UpdateExpressionParser.make))


ITEM_SIZE_LIMIT = 405_000  # moto's own figure: between AWS's measured 409 and 410 KB


def attributes(wire: dict[str, Any]) -> LimitedSizeDict:
    """moto's attributes of an item from their wire form (`{"S": ...}`), built at once: without
    the size check moto makes at each attribute it adds."""
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, {name: DynamoType(value) for name, value in wire.items()})
    return attrs


def _new_item(self: Item, hash_key: DynamoType, range_key: DynamoType | None,
              attrs: dict[str, Any]) -> None:
    self.hash_key, self.range_key = hash_key, range_key
    self.attrs = attributes(attrs)
    if sum(bytesize(name) + value.size() for name, value in self.attrs.items()) \
            > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge


def install() -> None:
    handler = dynamodb_responses.DynamoHandler
    if handler.serialized is _serialized:
        return
    # moto's methods replaced (monkeypatch).
    handler.serialized = _serialized  # type: ignore[method-assign]
    Item.__init__ = _new_item  # type: ignore[method-assign]
    dynamodb_responses.UpdateExpressionParser = _CachedUpdateExpressions
    dynamodb_models.UpdateExpressionParser = _CachedUpdateExpressions
