"""Faults seen by this process's own boto3 clients (the handlers', the API's), on botocore's
path and on the direct path, as the AWS error botocore raises and retries."""

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from stepwire.emulation.chaos import Faults
from stepwire.emulation.stepfunctions import direct_calls
from stepwire.host.lambda_host import LambdaHost

pytestmark = pytest.mark.functional

THROTTLE = {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}
KEY = {"k": {"S": "a"}}


def table(client) -> None:
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])


@pytest.mark.parametrize("direct", [False, True], ids=["botocore", "direct"])
def test_a_dynamodb_throttle_rule_raises_the_aws_error_after_the_sdks_retries(
        faults: Faults, direct: bool) -> None:
    with mock_aws():
        direct_calls.direct_calls(direct)
        try:
            dynamodb = boto3.client("dynamodb", region_name="us-east-1", config=Config(
                retries={"mode": "standard", "total_max_attempts": 3}))
            table(dynamodb)
            faults.add([{"service": "dynamodb", "operation": "PutItem", "error": THROTTLE}])

            with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException) \
                    as raised:
                dynamodb.put_item(TableName="t", Item=KEY)
            other = dynamodb.get_item(TableName="t", Key=KEY)  # another operation: no fault
            faults.replace([])
            dynamodb.put_item(TableName="t", Item=KEY)
        finally:
            direct_calls.direct_calls(False)

    response = raised.value.response
    assert response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 2  # the SDK retried the throttle
    assert "Item" not in other


def test_a_lambda_invoke_rule_fails_the_invoke_before_the_function_runs(
        faults: Faults) -> None:
    calls = []
    host = LambdaHost("123456789012", "us-east-1")
    arn = host.register("echo", lambda event, _: calls.append(event) or event)
    with mock_aws():
        host.activate()
        try:
            client = boto3.client("lambda", region_name="us-east-1",
                                  config=Config(retries={"total_max_attempts": 1}))
            faults.add([{"service": "lambda", "operation": "Invoke",
                         "error": {"statusCode": 429, "code": "TooManyRequestsException"}}])
            with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
                client.invoke(FunctionName=arn, Payload=b"{}")
            faults.replace([])
            answered = client.invoke(FunctionName=arn, Payload=json.dumps({"a": 1}))
        finally:
            host.deactivate()

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert calls == [{"a": 1}]
    assert json.loads(answered["Payload"].read()) == {"a": 1}


def test_a_rule_for_another_region_leaves_the_call_alone(faults: Faults) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        faults.add([{"service": "sqs", "region": "eu-west-1"}])
        sqs.create_queue(QueueName="q")
        elsewhere = boto3.client("sqs", region_name="eu-west-1",
                                 config=Config(retries={"total_max_attempts": 1}))
        with pytest.raises(ClientError) as raised:
            elsewhere.list_queues()

    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_a_latency_rule_delays_the_call_and_it_succeeds(faults: Faults) -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        table(dynamodb)
        faults.add([{"service": "dynamodb", "operation": "GetItem", "latency_ms": 300}])
        started = time.monotonic()
        dynamodb.get_item(TableName="t", Key=KEY)
        delayed = time.monotonic() - started
        started = time.monotonic()
        dynamodb.describe_table(TableName="t")
        undelayed = time.monotonic() - started

    assert delayed >= 0.3
    assert undelayed < 0.3
