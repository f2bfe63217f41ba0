"""The chaos API and the rules on the AWS endpoint, for clients in other processes: moto's
app behind the chaos middleware, served over HTTP, reached by boto3 and httpx."""

import threading
import time
from collections.abc import Iterator

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from stepwire.emulation.chaos import Faults
from stepwire.emulation.chaos.endpoint import chaos_middleware
from stepwire.emulation.chaos.hooks import _on_call
from tests.support.receiver import free_port

pytestmark = pytest.mark.functional

THROTTLE = {"service": "dynamodb", "operation": "PutItem",
            "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}


@pytest.fixture
def endpoint(faults: Faults) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, chaos_middleware(
        DomainDispatcherApplication(create_backend_app), faults), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def remote(endpoint: str, service: str):
    """A client as another process has it: only HTTP (this process's own hook taken off)."""
    client = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local",
                          config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.unregister("before-call", _on_call)
    return client


def test_a_client_over_http_gets_the_aws_error_of_the_rule(endpoint: str) -> None:
    dynamodb = remote(endpoint, "dynamodb")
    dynamodb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    item = {"k": {"S": "a"}}

    added = httpx.post(f"{endpoint}/_stepwire/chaos/faults", json=[THROTTLE])
    with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException) as raised:
        dynamodb.put_item(TableName="t", Item=item)
    missing = dynamodb.get_item(TableName="t", Key=item)  # refused: not written
    removed = httpx.request("DELETE", f"{endpoint}/_stepwire/chaos/faults", json=[THROTTLE])
    dynamodb.put_item(TableName="t", Item=item)

    assert added.status_code == 200 and added.json() == [THROTTLE]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Item" not in missing
    assert removed.json() == []
    assert dynamodb.get_item(TableName="t", Key=item)["Item"] == item


def test_sqs_and_step_functions_errors_over_http(endpoint: str) -> None:
    httpx.put(f"{endpoint}/_stepwire/chaos/faults", json=[
        {"service": "sqs", "error": {"statusCode": 400, "code": "RequestThrottled"}},
        {"service": "states", "operation": "ListStateMachines",
         "error": {"statusCode": 400, "code": "ThrottlingException"}}])

    with pytest.raises(ClientError) as sqs:
        remote(endpoint, "sqs").list_queues()
    with pytest.raises(ClientError) as sfn:
        remote(endpoint, "stepfunctions").list_state_machines()

    assert sqs.value.response["Error"]["Code"] == "RequestThrottled"
    assert sfn.value.response["Error"]["Code"] == "ThrottlingException"


def test_rules_are_listed_added_replaced_and_removed(endpoint: str) -> None:
    faults = f"{endpoint}/_stepwire/chaos/faults"
    other = {"service": "lambda", "probability": 0.5}

    assert httpx.get(faults).json() == []
    assert httpx.post(faults, json=[THROTTLE]).json() == [THROTTLE]
    assert httpx.patch(faults, json=[other]).json() == [THROTTLE, other]
    assert httpx.get(faults).json() == [THROTTLE, other]
    assert httpx.put(faults, json=[other]).json() == [other]
    assert httpx.delete(faults).json() == []  # no body: every rule


@pytest.mark.parametrize(("method", "body", "status", "says"), [
    ("POST", b"[{", 400, "not JSON"),
    ("POST", b"", 400, "JSON list of rules"),
    ("POST", b'[{"service": "dynamodb", "probability": 2}]', 400, "probability"),
    ("PUT", b'{"servce": "sqs"}', 400, "unknown field(s) servce"),
    ("DELETE", b'"sqs"', 400, "JSON list of rules"),
    ("HEAD", b"", 405, ""),
])
def test_a_bad_body_or_rule_is_a_400_that_says_why(endpoint: str, method: str, body: bytes,
                                                   status: int, says: str) -> None:
    answer = httpx.request(method, f"{endpoint}/_stepwire/chaos/faults", content=body)

    assert answer.status_code == status
    if method != "HEAD":
        assert says in answer.json()["message"]
    assert httpx.get(f"{endpoint}/_stepwire/chaos/faults").json() == []


def test_effects_add_latency_to_every_call(endpoint: str) -> None:
    effects = f"{endpoint}/_stepwire/chaos/effects"
    sqs = remote(endpoint, "sqs")

    assert httpx.post(effects, json={"latency": 250}).json() == {"latency": 250}
    delayed = httpx.get(effects)
    began = time.monotonic()
    sqs.list_queues()
    took = time.monotonic() - began
    bad = httpx.post(effects, json={"latency": -5})
    httpx.post(effects, json={"latency": 0})

    assert delayed.json() == {"latency": 250}
    assert took >= 0.25
    assert bad.status_code == 400
