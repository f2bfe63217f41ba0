"""The running `stepwire local`'s AWS endpoint over real HTTP: a web page (another origin, or a
DNS-rebound name) reads nothing; an AWS client still works (issue 22, finding 1)."""

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import LocalProcess

pytestmark = pytest.mark.e2e

EVIL = "https://evil.example"
GET_SECRET = {"Content-Type": "application/x-amz-json-1.1",
              "X-Amz-Target": "secretsmanager.GetSecretValue",
              "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/"
                               "secretsmanager/aws4_request, SignedHeaders=host, Signature=0"}
BODY = json.dumps({"SecretId": "stepwire/jwt-signing-key"})


def test_a_preflight_from_another_origin_is_refused_without_cors(local: LocalProcess) -> None:
    answer = httpx.options(local.aws_endpoint + "/", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-amz-target"})

    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    assert "preflight" in answer.json()["message"]


def test_get_secret_value_with_an_origin_is_refused(local: LocalProcess) -> None:
    answer = httpx.post(local.aws_endpoint + "/", content=BODY,
                        headers={**GET_SECRET, "Origin": EVIL})

    assert answer.status_code == 403
    assert answer.json()["__type"] == "AccessDeniedException"
    assert "SecretString" not in answer.text
    assert "access-control-allow-origin" not in answer.headers


def test_a_rebound_host_name_is_refused(local: LocalProcess) -> None:
    port = urlsplit(local.aws_endpoint).port
    answer = httpx.post(local.aws_endpoint + "/", content=BODY,
                        headers={**GET_SECRET, "Host": f"rebind.attacker.example:{port}"})

    assert answer.status_code == 403
    assert "SecretString" not in answer.text
    assert "--expose-aws-endpoint" in answer.json()["message"]


def test_an_aws_client_still_reads_the_secret(local: LocalProcess) -> None:
    secret = local.client("secretsmanager").get_secret_value(
        SecretId="stepwire/jwt-signing-key")

    assert secret["SecretString"]


def test_the_console_refuses_a_rebound_host_name_on_the_api_port(local: LocalProcess) -> None:
    port = urlsplit(local.api_url).port
    rebound = httpx.get(local.api_url + "/console/",
                        headers={"Host": f"rebind.attacker.example:{port}"})
    own = httpx.get(local.api_url + "/console/")

    assert rebound.status_code == 403
    assert own.status_code == 200
