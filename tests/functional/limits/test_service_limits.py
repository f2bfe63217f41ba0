"""DynamoDB items, SQS messages, EventBridge entries and Lambda payloads, refused as AWS does."""

import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stepwire.emulation import service_limits
from stepwire.host.lambda_host import PAYLOAD_LIMIT, LambdaHost

pytestmark = pytest.mark.functional


@pytest.fixture(autouse=True)
def emulated(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        service_limits.install()
        yield


def test_dynamodb_refuses_an_item_over_400_kb() -> None:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"S": "x" * 410_000}})

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Item size has exceeded the maximum allowed size" in str(refused.value)


@pytest.mark.parametrize("maximum", [262_144, 1_048_576])
def test_sqs_counts_utf8_bytes_and_attributes_up_to_the_queue_maximum(maximum: int) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"q{maximum}",
                           Attributes={"MaximumMessageSize": str(maximum)})["QueueUrl"]
    attribute = {"k": {"DataType": "String", "StringValue": "v"}}  # 1 + 6 + 1 bytes

    sqs.send_message(QueueUrl=url, MessageBody="x" * maximum)
    refused = []
    for body, attributes in (("x" * (maximum + 1), {}), ("é" * (maximum // 2), attribute),
                             ("x" * (maximum - 7), attribute)):
        with pytest.raises(ClientError) as error:
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        refused.append(error.value.response["Error"])
    with pytest.raises(ClientError) as in_batch:
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "x"}, {"Id": "2", "MessageBody": "x" * (maximum + 1)}])

    for error in [*refused, in_batch.value.response["Error"]]:
        assert error["Code"] == "InvalidParameterValue"
        assert error["Message"] == ("One or more parameters are invalid. Reason: Message must "
                                    f"be shorter than {maximum} bytes.")


def test_put_events_refuses_a_request_over_1_mb_as_a_whole() -> None:
    events = boto3.client("events")
    entry = {"Source": "s", "DetailType": "t", "Resources": ["r"]}
    fits = json.dumps({"d": "x" * (service_limits.PUT_EVENTS_LIMIT - 3 - 9)})

    accepted = events.put_events(Entries=[{**entry, "Detail": fits}])
    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[{**entry, "Detail": fits.replace('"x', '"xx')}])

    assert accepted["FailedEntryCount"] == 0
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        "Total size of the entries in the request is over the limit.")


def echo(event: object, context: object) -> object:
    return event


def double(event: object, context: object) -> object:
    return [event, event]


def test_lambda_refuses_a_request_over_6_mb_in_process_and_over_http() -> None:
    host = LambdaHost("123456789012", "us-east-1")
    host.register("echo", echo)
    host.activate()
    big = json.dumps("x" * PAYLOAD_LIMIT).encode()
    client = boto3.client("lambda")

    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName="echo", Payload=big)
    answer: dict = {}
    body = host.wsgi_middleware(lambda *_: [])(
        {"PATH_INFO": "/2015-03-31/functions/echo/invocations", "REQUEST_METHOD": "POST",
         "CONTENT_LENGTH": str(len(big)), "wsgi.input": io.BytesIO(big)},
        lambda status, headers: answer.update(status=status, headers=dict(headers)))
    host.deactivate()

    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert answer["status"] == "413 Request Entity Too Large"
    assert answer["headers"]["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert json.loads(b"".join(body))["__type"] == "RequestEntityTooLargeException"


def test_lambda_answers_a_response_over_6_mb_as_a_function_error() -> None:
    host = LambdaHost("123456789012", "us-east-1")
    host.register("echo", echo)
    host.register("double", double)
    host.activate()

    fits = boto3.client("lambda").invoke(FunctionName="echo",
                                         Payload=json.dumps("x" * (PAYLOAD_LIMIT // 2)))
    status, headers, body = host.invoke("double", json.dumps("x" * (PAYLOAD_LIMIT // 2))
                                        .encode())
    host.deactivate()

    assert "FunctionError" not in fits
    assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
    assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"
