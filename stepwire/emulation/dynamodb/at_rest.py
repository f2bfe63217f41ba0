"""DynamoDB partitions at rest kept packed, so that memory follows what is in use, not what is
stored.

moto holds every item as Python objects (an object and a dict per attribute, a key object per
item): a few KB for one of ours. A periodic pass packs each partition of a table with a range
key (an event with its notifications and attempts, a subscription, an endpoint's parked list)
whose items it has found unpacked for `seconds`: their wire form (values as `{"S": ...}`,
binaries as bytes) is pickled and compressed with zlib into one bytes object, and the
partition's dict stays in the table, empty. The next request that reads or writes the partition
unpacks it in place (about 20 µs an item), so a partition in use stays unpacked while it is
used. Items of one table repeat each other (attribute names, key prefixes, ARNs): each table
learns a zlib dictionary from the first partitions it packs: an event's partition of 3 items,
1.76 KB pickled, is 0.59 KB with zlib alone and 0.22 KB with the dictionary.

Every DynamoDB request runs under the engine's state lock, and so does a packing pass: no
request sees a partition half-packed. moto answers a query of an index by reading every item of
the table: a packed partition keeps the index keys of its items, and such a query only unpacks
the partitions that hold items of its index partition. A table without a range key (the
idempotency records) is not packed.
"""

import pickle
import sys
import time
import zlib
from collections.abc import Iterator
from typing import Any, cast

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from stepwire.emulation.dynamodb.wire_answers import attributes

UNPACKED_SINCE = "_unpacked_since"
DICTIONARY = "_stepwire_packing_dictionary"  # kept on the moto Table (and in its snapshot)
DICTIONARY_BYTES = 32 * 1024  # zlib's window: a dictionary's bytes beyond it are never used
LEARN_FROM_BYTES = 16 * 1024

# An item's index keys, as (attribute name, type, value) triples.
IndexKeys = tuple[tuple[str, str, Any], ...]


def _unpacking(method: Any) -> Any:
    def unpacked_first(self: "PackedPartition", *args: Any, **kwargs: Any) -> Any:
        if self._packed is not None:
            self._unpack()
        return method(self, *args, **kwargs)

    unpacked_first.__name__ = method.__name__
    return unpacked_first


class PackedPartition(dict):
    """A partition of a table with a range key (range key → Item), its items packed until
    the partition is first used; then an ordinary one, until a pass packs it again."""

    __slots__ = ("hash_key", "_range_key_attr", "_packed", "_dictionary", "_count",
                 "_index_keys")

    def __init__(self, hash_key: DynamoType, range_key_attr: str) -> None:
        super().__init__()
        self.hash_key, self._range_key_attr = hash_key, range_key_attr
        self._packed: bytes | None = None
        self._dictionary: bytes | None = None
        self._count = 0
        self._index_keys: tuple[IndexKeys, ...] = ()

    @property
    def packed(self) -> bool:
        return self._packed is not None

    def pack(self, items: list[Item], wire: bytes, dictionary: bytes,
             index_attributes: frozenset[str]) -> None:
        """Holds `items` (the partition's, `wire` their pickled wire form) packed."""
        compressor = zlib.compressobj(6, zdict=dictionary)
        self._index_keys = tuple(keys for keys in (_index_keys(item, index_attributes)
                                                   for item in items) if keys)
        dict.clear(self)
        self._packed = compressor.compress(wire) + compressor.flush()
        self._dictionary, self._count = dictionary, len(items)

    def _unpack(self) -> None:
        assert self._packed is not None and self._dictionary is not None
        wire = zlib.decompressobj(zdict=self._dictionary).decompress(self._packed)
        for wire_attributes in pickle.loads(wire):
            item = cast(Item, Item.__new__(Item))  # moto's BaseModel.__new__ is typed loosely
            item.hash_key = self.hash_key
            item.range_key = DynamoType(wire_attributes[self._range_key_attr])
            # The item passed moto's size check when written: no need to check it again.
            item.attrs = attributes(wire_attributes)
            dict.__setitem__(self, item.range_key, item)
        self._packed = self._dictionary = None
        self._index_keys = ()

    def may_hold(self, conditions: list[tuple[str, DynamoType]]) -> bool:
        """False when no item of this packed partition has every (index key, value)."""
        return any(all(any(name == key and DynamoType({kind: value}) == expected
                           for name, kind, value in keys) for key, expected in conditions)
                   for keys in self._index_keys)

    def __len__(self) -> int:
        return self._count if self._packed is not None else dict.__len__(self)

    def __reduce__(self) -> tuple:
        return _restored, (self.hash_key, self._range_key_attr, self._packed, self._dictionary,
                           self._count, self._index_keys, dict(dict.items(self)))

    __getitem__ = _unpacking(dict.__getitem__)
    __setitem__ = _unpacking(dict.__setitem__)
    __delitem__ = _unpacking(dict.__delitem__)
    __contains__ = _unpacking(dict.__contains__)
    __iter__ = _unpacking(dict.__iter__)
    __eq__ = _unpacking(dict.__eq__)
    __repr__ = _unpacking(dict.__repr__)
    get = _unpacking(dict.get)
    keys = _unpacking(dict.keys)
    values = _unpacking(dict.values)
    items = _unpacking(dict.items)
    pop = _unpacking(dict.pop)
    popitem = _unpacking(dict.popitem)
    setdefault = _unpacking(dict.setdefault)
    update = _unpacking(dict.update)
    clear = _unpacking(dict.clear)
    copy = _unpacking(dict.copy)
    __hash__ = None  # unhashable, as a dict


def _restored(hash_key: DynamoType, range_key_attr: str, packed: bytes | None,
              dictionary: bytes | None, count: int, index_keys: tuple[IndexKeys, ...],
              items: dict) -> PackedPartition:
    partition = PackedPartition(hash_key, range_key_attr)
    dict.update(partition, items)
    partition._packed, partition._dictionary = packed, dictionary
    partition._count, partition._index_keys = count, index_keys
    return partition


def _index_keys(item: Item, index_attributes: frozenset[str]) -> IndexKeys:
    # Plain values, strings interned: an index partition key repeats over many items
    return tuple((name, item.attrs[name].type, _interned(item.attrs[name].value))
                 for name in index_attributes if name in item.attrs)


def _interned(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def index_attributes(table: Table) -> frozenset[str]:
    return frozenset(key["AttributeName"] for index in table.all_indexes()
                     for key in index.schema)


def items_of_index_partition(table: Table, conditions: list[tuple[str, DynamoType]]
                             ) -> list[Item]:
    """The table's items with every (attribute, value) of `conditions` (an index query's
    partition key), unpacking only the partitions that hold some."""
    def matches(item: Item) -> bool:
        return all(_equal(item.attrs.get(name), value) for name, value in conditions)

    if not table.range_key_attr:  # never packed: the table holds its items
        # moto types its items as {hash: {range: item}}; without a range key, {hash: item}.
        return [item for item in cast(dict[Any, Item], table.items).values() if matches(item)]
    return [item for partition in table.items.values()
            if not (isinstance(partition, PackedPartition) and partition.packed
                    and not partition.may_hold(conditions))
            for item in partition.values() if matches(item)]


def _equal(found: DynamoType | None, expected: DynamoType) -> bool:
    return found is not None and found == expected


def _due_partitions(table: Table, seconds: float, now: float
                    ) -> Iterator[tuple[DynamoType, dict, list[Item]]]:
    for hash_key, partition in list(table.items.items()):
        if isinstance(partition, PackedPartition) and partition.packed or not partition:
            continue
        items = list(dict.values(partition))
        # Every pass marks the items it finds unpacked; a partition is due once all are old.
        since = [item.__dict__.setdefault(UNPACKED_SINCE, now) for item in items]
        if now - max(since) >= seconds:
            yield hash_key, partition, items


def _pack_table(table: Table, seconds: float, now: float) -> int:
    if not table.range_key_attr:
        return 0
    due = []
    for hash_key, partition, items in _due_partitions(table, seconds, now):
        wire = pickle.dumps([item.to_json()["Attributes"] for item in items],
                            protocol=pickle.HIGHEST_PROTOCOL)
        due.append((hash_key, partition, items, wire))
    dictionary: Any = getattr(table, DICTIONARY, None)
    if dictionary is None:
        sample = b"".join(wire for *_, wire in due)[-DICTIONARY_BYTES:]
        if not due or len(sample) < LEARN_FROM_BYTES:
            return 0  # a small table stays unpacked until it has enough to learn from
        dictionary = sample
        setattr(table, DICTIONARY, dictionary)
    keys = index_attributes(table)
    for hash_key, partition, items, wire in due:
        if not isinstance(partition, PackedPartition):
            partition = PackedPartition(hash_key, table.range_key_attr)
            table.items[hash_key] = partition
        partition.pack(items, wire, dictionary, keys)
    return len(due)


def pack_partitions(seconds: float, now: float | None = None) -> int:
    """One pass over every table (call it under the state lock): packs the partitions whose
    items an earlier pass found unpacked at least `seconds` ago; returns how many it packed."""
    now = time.monotonic() if now is None else now
    return sum(_pack_table(table, seconds, now)
               for account in dynamodb_backends.values() for backend in account.values()
               for table in list(backend.tables.values()))
