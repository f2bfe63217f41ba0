"""The local AWS endpoint answers AWS clients, never a web page: moto's app behind the origin
guard, reached with werkzeug's test client (issue 22, finding 1)."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from stepwire.emulation.origin_guard import origin_guard

pytestmark = pytest.mark.functional

PORT = 4566
GET_SECRET = {"Content-Type": "application/x-amz-json-1.1",
              "X-Amz-Target": "secretsmanager.GetSecretValue",
              "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/"
                               "secretsmanager/aws4_request, SignedHeaders=host, Signature=0"}
BODY = json.dumps({"SecretId": "stepwire/jwt-signing-key"})


@pytest.fixture
def moto_app() -> Iterator[Callable]:
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="stepwire/jwt-signing-key", SecretString="the-signing-key")
        yield DomainDispatcherApplication(create_backend_app)


def guarded(app: Callable, **options: Any) -> Client:
    return Client(origin_guard(app, port=PORT, **options))


def test_an_aws_client_on_the_loopback_name_reads_the_secret(moto_app) -> None:
    for host in ("127.0.0.1:4566", "localhost:4566", "[::1]:4566"):
        answer = guarded(moto_app).post("/", headers={**GET_SECRET, "Host": host}, data=BODY)
        assert answer.status_code == 200, (host, answer.text)
        assert json.loads(answer.text)["SecretString"] == "the-signing-key"


def test_a_request_with_an_origin_is_refused_and_reads_nothing(moto_app) -> None:
    answer = guarded(moto_app).post("/", data=BODY, headers={
        **GET_SECRET, "Host": "127.0.0.1:4566", "Origin": "https://evil.example"})

    assert answer.status_code == 403
    assert json.loads(answer.text)["__type"] == "AccessDeniedException"
    assert "Origin" in json.loads(answer.text)["message"]
    assert "the-signing-key" not in answer.text
    assert not [h for h in answer.headers.keys() if h.lower().startswith("access-control-")]


def test_a_cors_preflight_is_refused_without_cors_headers(moto_app) -> None:
    answer = guarded(moto_app).options("/", headers={
        "Host": "127.0.0.1:4566", "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,authorization"})

    assert answer.status_code == 403
    assert "preflight" in json.loads(answer.text)["message"]
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_browser_request_from_another_site_without_origin_is_refused(moto_app) -> None:
    answer = guarded(moto_app).get("/_stepwire/anything", headers={
        "Host": "127.0.0.1:4566", "Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403


@pytest.mark.parametrize("host", ["rebind.attacker.example:4566", "127.0.0.1:4567",
                                  "localhost", "127.0.0.1.nip.io:4566", ""])
def test_a_foreign_host_is_refused(moto_app, host: str) -> None:
    answer = guarded(moto_app).post("/", headers={**GET_SECRET, "Host": host}, data=BODY)
    assert answer.status_code == 403
    assert "--expose-aws-endpoint" in json.loads(answer.text)["message"]
    assert "the-signing-key" not in answer.text


def test_exposed_the_host_is_not_checked_but_an_origin_still_is(moto_app) -> None:
    client = guarded(moto_app, check_host=False)
    named = client.post("/", headers={**GET_SECRET, "Host": "devbox.lan:4566"}, data=BODY)
    from_page = client.post("/", data=BODY, headers={
        **GET_SECRET, "Host": "devbox.lan:4566", "Origin": "http://devbox.lan:8000"})

    assert named.status_code == 200
    assert from_page.status_code == 403


def test_cors_headers_of_the_app_are_removed() -> None:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Access-Control-Allow-Origin", "*"),
                                  ("Access-Control-Allow-Credentials", "true"),
                                  ("Content-Type", "application/json")])
        return [b"{}"]

    answer = guarded(app).get("/", headers={"Host": "localhost:4566"})

    assert answer.status_code == 200
    assert answer.headers.get("Content-Type") == "application/json"
    assert not [h for h in answer.headers.keys() if h.lower().startswith("access-control-")]
