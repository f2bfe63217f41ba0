"""The local engine's DynamoDB transactions keep only the items they touch to roll back with
(moto copied every item of the table first): a cancelled transaction still changes nothing."""

import pytest

from stepwire.runtime import LocalRuntime

pytestmark = pytest.mark.workflow


def item(pk: str, sk: str, **values: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in values.items()}}


def test_a_cancelled_transaction_changes_nothing_and_a_good_one_writes_all(
        runtime: LocalRuntime, tenant: str) -> None:
    dynamodb = runtime.client("dynamodb")
    assert runtime.resources is not None
    table = runtime.resources.table_name
    pk = f"TEST#{tenant}"
    dynamodb.put_item(TableName=table, Item=item(pk, "a", state="before"))
    dynamodb.put_item(TableName=table, Item=item(pk, "gone", state="before"))

    writes = [
        {"Update": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": "a"}},
                    "UpdateExpression": "SET #s = :after",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {":after": {"S": "after"}}}},
        {"Put": {"TableName": table, "Item": item(pk, "new", state="after")}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": "gone"}}}},
    ]

    # When a transaction updates one item, adds one, deletes one and fails its condition check
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[
            *writes,
            {"ConditionCheck": {"TableName": table,
                                "Key": {"pk": {"S": pk}, "sk": {"S": "missing"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])

    # Then every item is as it was
    def items() -> dict[str, str]:
        found = dynamodb.query(TableName=table, KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": pk}})["Items"]
        return {i["sk"]["S"]: i["state"]["S"] for i in found}

    assert items() == {"a": "before", "gone": "before"}

    # And the same transaction without the failing check writes all of it
    dynamodb.transact_write_items(TransactItems=writes)
    assert items() == {"a": "after", "new": "after"}
