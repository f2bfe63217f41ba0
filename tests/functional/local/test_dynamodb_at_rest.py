"""The local runtime packs DynamoDB partitions at rest (stepwire/at_rest.py):
every request answers as it did before they were packed."""

import pickle
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from stepwire.emulation import housekeeping
from stepwire.emulation.dynamodb import at_rest, backend
from stepwire.emulation.dynamodb.at_rest import PackedPartition

pytestmark = pytest.mark.functional

TABLE = "at-rest"
ITEM = {"pk": {"S": "p"}, "sk": {"S": "1"}, "n": {"N": "12.50"}, "flag": {"BOOL": True},
        "nothing": {"NULL": True}, "map": {"M": {"a": {"S": "x"}, "b": {"L": [{"N": "1"}]}}},
        "strings": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2"]}, "empty": {"S": ""},
        "blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"\x01", b"\x02"]},
        "data": {"S": '{"nested": {"deep": [1, 2, {"x": "\\u00e9"}]}}'}}


@pytest.fixture
def client(monkeypatch) -> Iterator[Any]:
    monkeypatch.setattr(at_rest, "LEARN_FROM_BYTES", 0)  # learn from a few items
    with mock_aws():
        backend.serialize_dynamodb()
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                  for name in ("pk", "sk", "gpk", "gsk")],
            GlobalSecondaryIndexes=[{
                "IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"},
                              {"AttributeName": "gsk", "KeyType": "RANGE"}]}])
        yield client


def table() -> Any:
    [found] = [t for account in dynamodb_backends.values() for backend in account.values()
               for t in backend.tables.values()]
    return found


def packed() -> dict[str, bool]:
    """Partition key → packed, read without unpacking anything."""
    return {key.value: isinstance(partition, PackedPartition) and partition.packed
            for key, partition in table().items.items()}


def pack_all() -> int:
    """Two passes 10 s apart: the first finds every item unpacked, the second packs them."""
    at_rest.pack_partitions(10, now=0.0)
    return at_rest.pack_partitions(10, now=10.0)


def key(pk: str, sk: str = "1") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_packed_partitions_read_as_they_were_written(client) -> None:
    # Given two partitions of items of every attribute kind, read before packing
    for pk, sk in [("p", "1"), ("p", "2"), ("p", "3"), ("q", "1")]:
        client.put_item(TableName=TABLE, Item={**ITEM, **key(pk, sk)})
    query = {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
             "ExpressionAttributeValues": {":p": {"S": "p"}}}
    before = client.query(**query)["Items"]
    scanned = client.scan(TableName=TABLE)["Items"]
    # When they are packed
    assert pack_all() == 2
    assert packed() == {"p": True, "q": True}
    assert client.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 4
    assert packed() == {"p": True, "q": True}  # counted without unpacking
    # Then every read answers the same, and unpacks only the partitions it reads
    assert client.query(**query)["Items"] == before
    assert before[0]["blob"] == {"B": b"\x00\xff"}
    assert packed() == {"p": False, "q": True}
    assert client.get_item(TableName=TABLE, Key=key("q"))["Item"] == {**ITEM, **key("q")}
    assert client.scan(TableName=TABLE)["Items"] == scanned
    # And a partition unpacked by a read is not packed by the next pass that finds it
    assert at_rest.pack_partitions(10, now=10.0) == 0
    assert at_rest.pack_partitions(10, now=20.0) == 2


def test_writes_to_a_packed_partition_answer_as_to_an_unpacked_one(client) -> None:
    # Given one packed partition and its twin written after the packing
    client.put_item(TableName=TABLE, Item=ITEM)
    pack_all()
    client.put_item(TableName=TABLE, Item={**ITEM, **key("twin")})
    assert packed() == {"p": True, "twin": False}
    # A conditional put sees the packed item; a put and a delete change the partition
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=TABLE, Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    pack_all()
    client.put_item(TableName=TABLE, Item={**ITEM, **key("p", "2")})
    pack_all()
    client.delete_item(TableName=TABLE, Key=key("p", "2"))
    pack_all()
    client.get_item(TableName=TABLE, Key=key("twin"))  # unpacks it
    assert packed() == {"p": True, "twin": False}

    def increment(pk: str) -> dict:
        return client.update_item(
            TableName=TABLE, Key=key(pk), UpdateExpression="SET n = n + :one",
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")["Attributes"]

    assert increment("p") == {**increment("twin"), **key("p")}
    assert [i["sk"]["S"] for i in client.scan(TableName=TABLE)["Items"]] == ["1", "1"]


def test_a_failed_transaction_rolls_a_packed_partition_back(client) -> None:
    client.put_item(TableName=TABLE, Item=ITEM)
    pack_all()
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key("p"), "UpdateExpression": "SET n = :zero",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": key("absent"),
                                "ConditionExpression": "attribute_exists(pk)"}}])
    assert client.get_item(TableName=TABLE, Key=key("p"))["Item"] == ITEM


def test_an_index_query_unpacks_the_partitions_of_its_index_partition_only(client) -> None:
    # Given items in two index partitions, and one outside the index, each in its own
    # partition of the table, all packed
    for n, index_partition in enumerate(["a", "a", "b"]):
        client.put_item(TableName=TABLE, Item={**ITEM, **key(f"p{n}"),
                                               "gpk": {"S": index_partition},
                                               "gsk": {"S": str(n)}})
    client.put_item(TableName=TABLE, Item={**ITEM, **key("x")})
    pack_all()
    # When index partition "a" is queried, newest first
    found = client.query(TableName=TABLE, IndexName="by-g", ScanIndexForward=False,
                         KeyConditionExpression="gpk = :g",
                         ExpressionAttributeValues={":g": {"S": "a"}})["Items"]
    # Then it finds its two items, and the other partitions stay packed
    assert [item["gsk"]["S"] for item in found] == ["1", "0"]
    assert packed() == {"p0": False, "p1": False, "p2": True, "x": True}


def test_a_small_table_stays_unpacked_until_it_can_learn_a_dictionary(client, monkeypatch):
    monkeypatch.setattr(at_rest, "LEARN_FROM_BYTES", 2_000)
    client.put_item(TableName=TABLE, Item=ITEM)
    assert pack_all() == 0
    for n in range(10):
        client.put_item(TableName=TABLE, Item={**ITEM, **key(f"more{n}")})
    assert pack_all() == 11
    assert 2_000 <= len(getattr(table(), at_rest.DICTIONARY)) <= 32 * 1024


def test_a_packed_partition_survives_a_snapshot(client) -> None:
    client.put_item(TableName=TABLE, Item=ITEM)
    client.put_item(TableName=TABLE, Item={**ITEM, **key("p", "2")})
    pack_all()
    client.put_item(TableName=TABLE, Item={**ITEM, **key("q")})
    # The tables are pickled together (each partition with its table's dictionary)
    restored = pickle.loads(pickle.dumps(table().items))
    assert isinstance(restored[DynamoType({"S": "p"})], PackedPartition)
    assert len(restored[DynamoType({"S": "p"})]) == 2
    assert [item.attrs["n"].value for item in restored[DynamoType({"S": "p"})].values()] == \
        ["12.50", "12.50"]
    assert restored[DynamoType({"S": "q"})][DynamoType({"S": "1"})].attrs == \
        table().items[DynamoType({"S": "q"})][DynamoType({"S": "1"})].attrs


def test_moto_keeps_no_list_of_every_item_it_made(client) -> None:
    # moto's models append themselves to a class list (for its server's dashboard): every
    # version of every item stayed reachable. The local runtime turns that off.
    housekeeping.forget_model_objects()
    for n in range(50):
        client.put_item(TableName=TABLE, Item={**ITEM, **key("p", str(n))})
    assert Item.instances_tracked == []
    assert len(table()) == 50
