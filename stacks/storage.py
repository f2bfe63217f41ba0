"""The DynamoDB table, built from the one key-schema definition in `workflows.storage.table`."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from workflows.storage import table

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER,
          "B": dynamodb.AttributeType.BINARY}
_PROJECTIONS = {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
                "INCLUDE": dynamodb.ProjectionType.INCLUDE}


def _key_attributes(request: dict, key_schema: list[dict]) -> dict[str, dynamodb.Attribute]:
    """`{"HASH": Attribute, "RANGE": Attribute}` from a CreateTable key schema."""
    types = {d["AttributeName"]: d["AttributeType"] for d in request["AttributeDefinitions"]}
    return {k["KeyType"]: dynamodb.Attribute(name=k["AttributeName"],
                                             type=_TYPES[types[k["AttributeName"]]])
            for k in key_schema}


class Storage(Construct):
    """On-demand, point-in-time recovery, TTL, encrypted, protected from deletion."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # The name is CloudFormation's to choose; only the schema comes from the request.
        request = table.create_table_request("unused")
        if request["BillingMode"] != "PAY_PER_REQUEST":
            raise ValueError("the table is defined on-demand in workflows.storage.table")
        self.table = self._build_table("Table", request, table.TTL_ATTRIBUTE,
                                       deletion_protection=True,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.index_names: list[str] = []
        for index in request.get("GlobalSecondaryIndexes", []):
            keys = _key_attributes(request, index["KeySchema"])
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=keys["HASH"],
                sort_key=keys.get("RANGE"),
                projection_type=_PROJECTIONS[index["Projection"]["ProjectionType"]],
                non_key_attributes=index["Projection"].get("NonKeyAttributes"),
            )
            self.index_names.append(index["IndexName"])

        # Publish idempotency records (Powertools' layout): short-lived, removed with the stack.
        idempotency = table.create_idempotency_table_request("unused")
        self.idempotency_table = self._build_table(
            "IdempotencyTable", idempotency, table.IDEMPOTENCY_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY)

    def _build_table(self, construct_id: str, request: dict, ttl_attribute: str,
                     removal_policy: RemovalPolicy,
                     deletion_protection: bool | None = None) -> dynamodb.Table:
        keys = _key_attributes(request, request["KeySchema"])
        return dynamodb.Table(
            self, construct_id,
            partition_key=keys["HASH"],
            sort_key=keys.get("RANGE"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=ttl_attribute,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )

    def index_arns(self) -> list[str]:
        return [f"{self.table.table_arn}/index/{name}" for name in self.index_names]
