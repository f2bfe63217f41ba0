"""In-process Lambda: what the engine's Invoke calls get back, errors included."""

import json

import boto3
import pytest
from moto import mock_aws

from stepwire.host.lambda_host import LambdaHost
from workflows.kernel.errors import DeliveryRetryable

pytestmark = pytest.mark.functional


def failing(event, context):
    raise DeliveryRetryable("HTTP 503", status_code=503, retry_after=30)


def echo(event, context):
    return {"got": event, "function": context.function_name}


def test_invoke_returns_results_and_named_errors_like_lambda() -> None:
    host = LambdaHost("123456789012", "us-east-1")
    arn = host.register("echo", echo)
    host.register("failing", failing)
    with mock_aws():
        host.activate()
        client = boto3.client("lambda", region_name="us-east-1")

        ok = client.invoke(FunctionName=arn, Payload=json.dumps({"a": 1}))
        error = client.invoke(FunctionName="failing", Payload=b"{}")
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="missing", Payload=b"{}")

    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"got": {"a": 1}, "function": "echo"}
    assert error["FunctionError"] == "Unhandled"
    payload = json.loads(error["Payload"].read())
    assert payload["errorType"] == "Delivery.Retryable"
    assert json.loads(payload["errorMessage"]) == {"detail": "HTTP 503", "status_code": 503,
                                                   "retry_after": 30}
