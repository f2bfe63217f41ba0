"""The local runtime writes moto's DynamoDB item answers with `json.dumps` where that is exactly
what moto's own serializer writes: every answer of a varied run is compared with moto's."""

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from stepwire.emulation.dynamodb import wire_answers

pytestmark = pytest.mark.functional

TABLE = "wire"
ITEM = {"pk": {"S": "p"}, "sk": {"S": "1"}, "n": {"N": "12.50"}, "flag": {"BOOL": True},
        "nothing": {"NULL": True}, "map": {"M": {"a": {"S": "x"}, "b": {"L": [{"N": "1"}]}}},
        "strings": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2"]}, "empty": {"S": ""}}


@pytest.fixture
def answers() -> Iterator[tuple[Any, list[tuple[str, Any, Any]]]]:
    """A DynamoDB client whose every answer is also written by moto's serializer, kept as
    (action, json.dumps's answer or None, moto's answer)."""
    seen: list[tuple[str, Any, Any]] = []
    original = DynamoHandler.serialized

    def both(self: Any, action_result: Any) -> Any:
        expected = wire_answers.model_serialized(self, copy.deepcopy(action_result))
        seen.append((self._get_action(), wire_answers.wire_answer(self, action_result),
                     expected))
        return expected

    with mock_aws():
        DynamoHandler.serialized = both
        try:
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}])
            seen.clear()
            yield client, seen
        finally:
            DynamoHandler.serialized = original


def test_item_answers_are_moto_answers(answers) -> None:
    client, seen = answers
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
    # Given items of every JSON-typed attribute kind, and one with a binary value
    client.put_item(TableName=TABLE, Item=ITEM, ReturnConsumedCapacity="TOTAL")
    client.put_item(TableName=TABLE, Item={**ITEM, "sk": {"S": "2"}, "blob": {"B": b"\x00\xff"}})
    # When every item operation runs, successes and failures alike
    client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    client.get_item(TableName=TABLE, Key={"pk": {"S": "none"}, "sk": {"S": "1"}})
    client.get_item(TableName=TABLE, Key={**key, "sk": {"S": "2"}})
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET n = n + :one, m2 = :m",
                       ExpressionAttributeValues={":one": {"N": "1"},
                                                  ":m": {"M": {"z": {"BOOL": False}}}},
                       ReturnValues="ALL_NEW", ReturnConsumedCapacity="INDEXES")
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET n = :n",
                       ExpressionAttributeValues={":n": {"N": "3"}})
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=TABLE, Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    client.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": {"S": "p"}}, Limit=1)
    client.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": {"S": "p"}}, Select="COUNT")
    client.scan(TableName=TABLE)
    client.batch_get_item(RequestItems={TABLE: {"Keys": [key, {"pk": {"S": "x"},
                                                               "sk": {"S": "y"}}]}})
    client.batch_write_item(RequestItems={TABLE: [
        {"PutRequest": {"Item": {**ITEM, "sk": {"S": "3"}}}}]})
    client.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE,
                                                        "Item": {**ITEM, "sk": {"S": "4"}}}}])
    client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}])
    client.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
    client.describe_table(TableName=TABLE)
    # Then json.dumps answered the item operations, except where moto's serializer changes
    # something (a binary value, a member outside the model: DeleteItem's
    # ConsumedCapacityUnits), and wherever it answered, its answer is moto's
    assert {action for action, fast, _ in seen if fast is not None} == {
        "PutItem", "GetItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem",
        "TransactWriteItems", "TransactGetItems"}
    assert [action for action, fast, _ in seen if fast is None] == [
        "GetItem", "Scan", "DeleteItem", "DescribeTable"]
    for action, fast, expected in seen:
        if fast is not None:
            status, headers, body = fast
            assert (action, status) == (action, expected[0])
            assert headers["Content-Type"] == expected[1]["Content-Type"]
            assert json.loads(body) == json.loads(expected[2]), action


def test_the_item_size_limit_holds_with_the_single_size_check() -> None:
    wire_answers.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        # 300 KB in three attributes is stored; 420 KB in three is refused as moto refuses it
        fine = {f"a{i}": {"S": "x" * 100_000} for i in range(3)}
        client.put_item(TableName=TABLE, Item={"pk": {"S": "fine"}, **fine})
        big = {f"a{i}": {"S": "x" * 140_000} for i in range(3)}
        with pytest.raises(client.exceptions.ClientError, match="Item size has exceeded"):
            client.put_item(TableName=TABLE, Item={"pk": {"S": "big"}, **big})
        # and an update that crosses the limit is still refused
        with pytest.raises(client.exceptions.ClientError, match="Item size to update has exceeded"):
            client.update_item(TableName=TABLE, Key={"pk": {"S": "fine"}},
                               UpdateExpression="SET a3 = :v",
                               ExpressionAttributeValues={":v": {"S": "x" * 150_000}})
        assert len(client.scan(TableName=TABLE)["Items"]) == 1
