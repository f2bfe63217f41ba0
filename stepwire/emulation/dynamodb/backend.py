"""moto's DynamoDB backend, safe for concurrent callers and in proportion to what a request
touches.

moto's table is not safe for concurrent writers (a write can run while a query iterates): its
calls are serialized under `state_lock`; a query of the table sorted every item of every
partition before picking its own: it now reads its partition only; a query of an index read
every item: it now reads those of its index partition (the others may stay packed, see
`at_rest`); and a transaction deep-copied every item of its tables to roll back with (parking
1,000 notifications took minutes): it now keeps only the items it touches.
"""

import copy
import threading
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from stepwire.emulation.dynamodb import at_rest

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
        return at_rest.items_of_index_partition(self, index_partition)
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
            except Exception:  # a bad key: moto's own call answers it
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
    # moto's methods and its backend's `copy` module replaced (monkeypatch).
    DynamoHandler.call_action = _serialized_dynamodb_call  # type: ignore[method-assign]
    Table.query = _partition_query  # type: ignore[method-assign]
    Table.all_items = _items_of_partition  # type: ignore[method-assign]
    dynamodb_models.copy = _TablesKeptInPlace()  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = (  # type: ignore[method-assign]
        _transact_keeping_touched_items)
