"""The JWT key's rotation (four Secrets Manager steps) and the first keys, on moto in process."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

from lambdas import handle_rotate_jwt_key
from workflows.auth.roles import Unauthorized
from workflows.auth.tokens import (
    SecretsManagerKeys,
    TokenPolicy,
    TokenVerifier,
    issue_token,
    signing_key,
)
from workflows.kernel import aws
from workflows.secrets.custom_resource import FAILED, SUCCESS, response_body
from workflows.secrets.key_rotation import (
    CURRENT,
    PENDING,
    PREVIOUS,
    InvalidKey,
    RotationRejected,
    is_valid_key,
    rotate,
    seed_keys,
)
from workflows.secrets.secret_box import new_data_key

pytestmark = pytest.mark.functional

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


ROTATION_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-jwt-key"


class RotationFunction:
    """Stands in for AWS Lambda: Secrets Manager (moto) invokes the real handler in process."""

    def __init__(self, repeat: int = 1) -> None:
        self.repeat = repeat
        self.steps: list[str] = []

    def invoke(self, function_name: str, qualifier: Any, body: str,
               *_args: Any, **_kwargs: Any) -> bytes:
        assert function_name == ROTATION_FUNCTION_ARN
        event = json.loads(body)
        for _ in range(self.repeat):  # Secrets Manager may deliver a step more than once
            self.steps.append(event["Step"])
            handle_rotate_jwt_key.lambda_handler(event, LambdaContext())
        return b"null"


class LambdaContext:
    function_name = "rotate-jwt-key"
    memory_limit_in_mb = 256
    invoked_function_arn = ROTATION_FUNCTION_ARN
    aws_request_id = "request"


@pytest.fixture
def rotation_function(monkeypatch: pytest.MonkeyPatch) -> RotationFunction:
    function = RotationFunction()
    monkeypatch.setattr(LambdaBackend, "get_function", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(LambdaBackend, "invoke", function.invoke)
    return function


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "DEAD_LETTER_QUEUE_URL",
                 "INGEST_STATE_MACHINE_ARN",
                 "NOTIFICATION_STATE_MACHINE_ARN", "RECOVERY_STATE_MACHINE_ARN",
                 "DATA_KEY_SECRET_ID", "JWT_SECRET_ID"):
        monkeypatch.setenv(f"STEPWIRE_{name}", "unused")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        aws.reset_clients()
        yield boto3.client("secretsmanager", region_name="us-east-1")
    aws.reset_clients()


@pytest.fixture
def jwt_secret(secrets: Any) -> str:
    return secrets.create_secret(Name="stepwire/jwt-signing-key",
                                 SecretString=new_data_key())["ARN"]


def value(secrets: Any, secret_id: str, stage: str) -> str:
    return secrets.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"]


def rotate_now(secrets: Any, secret_id: str) -> str:
    return secrets.rotate_secret(SecretId=secret_id, RotationLambdaARN=ROTATION_FUNCTION_ARN,
                                 RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]


def test_four_steps_promote_a_new_key_and_keep_the_old_one_as_previous(
        secrets, jwt_secret, rotation_function):
    # Given a secret holding the key that signs live tokens
    old_key = value(secrets, jwt_secret, CURRENT)

    # When Secrets Manager rotates it through the rotation function
    token = rotate_now(secrets, jwt_secret)

    # Then the four steps ran in order, the new key is current, the old one previous
    assert rotation_function.steps == list(STEPS)
    new_key = value(secrets, jwt_secret, CURRENT)
    assert new_key != old_key
    assert is_valid_key(new_key)
    assert value(secrets, jwt_secret, PREVIOUS) == old_key
    stages = secrets.describe_secret(SecretId=jwt_secret)["VersionIdsToStages"]
    assert stages[token] == [CURRENT]


def test_a_second_rotation_retires_the_oldest_key(secrets, jwt_secret, rotation_function):
    # Given a key that was rotated once
    first = value(secrets, jwt_secret, CURRENT)
    rotate_now(secrets, jwt_secret)
    second = value(secrets, jwt_secret, CURRENT)

    # When it is rotated again
    rotate_now(secrets, jwt_secret)

    # Then the last two keys are current and previous; the first is accepted no more
    third = value(secrets, jwt_secret, CURRENT)
    assert value(secrets, jwt_secret, PREVIOUS) == second
    assert first not in {third, second}


def test_repeated_steps_are_harmless(secrets, jwt_secret, rotation_function):
    # Given Secrets Manager delivering every step twice
    rotation_function.repeat = 2
    old_key = value(secrets, jwt_secret, CURRENT)

    # When it rotates the key
    rotate_now(secrets, jwt_secret)

    # Then the outcome is that of a single rotation
    assert rotation_function.steps == [step for step in STEPS for _ in range(2)]
    assert value(secrets, jwt_secret, PREVIOUS) == old_key
    assert is_valid_key(value(secrets, jwt_secret, CURRENT))


def test_an_unknown_version_is_rejected(secrets, jwt_secret, rotation_function):
    rotate_now(secrets, jwt_secret)
    with pytest.raises(RotationRejected):
        rotate(secrets, jwt_secret, "00000000-0000-0000-0000-000000000000", "createSecret")


def test_a_pending_value_that_is_not_a_key_fails_the_test_step(
        secrets, jwt_secret, rotation_function):
    # Given a pending version that someone filled with a password
    rotate_now(secrets, jwt_secret)
    token = "11111111-1111-1111-1111-111111111111"
    secrets.put_secret_value(SecretId=jwt_secret, ClientRequestToken=token,
                             SecretString="not-a-key", VersionStages=[PENDING])

    # When the test step runs, Then it refuses to let finishSecret promote it
    with pytest.raises(InvalidKey):
        rotate(secrets, jwt_secret, token, "testSecret")
    assert value(secrets, jwt_secret, CURRENT) != "not-a-key"


def test_seeding_replaces_generated_passwords_and_keeps_real_keys(secrets):
    # Given a secret CloudFormation filled with a password, and one that already holds a key
    generated = secrets.create_secret(Name="generated", SecretString="p@ssw0rd!-32chars")["ARN"]
    existing_key = new_data_key()
    keyed = secrets.create_secret(Name="keyed", SecretString=existing_key)["ARN"]

    # When the deployment seeds both
    seeded = seed_keys(secrets, [generated, keyed])

    # Then only the password was replaced, by a 32-byte key; the data key is never re-keyed
    assert seeded == [generated]
    assert is_valid_key(value(secrets, generated, CURRENT))
    assert value(secrets, keyed, CURRENT) == existing_key


@pytest.mark.parametrize("status", [SUCCESS, FAILED])
def test_custom_resource_answer_names_the_request(status):
    event = {"StackId": "stack", "RequestId": "req", "LogicalResourceId": "Seed",
             "ResponseURL": "https://example.invalid/", "RequestType": "Create"}
    body = json.loads(response_body(event, "log-stream", status, reason="why"))
    assert body == {"Status": status, "Reason": "why", "PhysicalResourceId": "Seed",
                    "StackId": "stack", "RequestId": "req", "LogicalResourceId": "Seed",
                    "Data": {}}


def _verifier(secrets: Any, secret_id: str) -> TokenVerifier:
    # No cache, so each step is seen at once (the authorizer caches for 60 s).
    return TokenVerifier(SecretsManagerKeys(secrets, secret_id, ttl=0),
                         TokenPolicy(issuer="stepwire", audience="stepwire-api"))


def _token(secrets: Any, secret_id: str) -> str:
    key = signing_key(secrets.get_secret_value(SecretId=secret_id, VersionStage=CURRENT))
    return issue_token(key, tenant="acme", roles=["admin"], sub="ops", issuer="stepwire",
                       audience="stepwire-api")


def test_a_leaked_key_is_retired_by_rotating_twice(secrets, jwt_secret, rotation_function):
    # Given a token signed with the key that leaked
    leaked = _token(secrets, jwt_secret)
    verifier = _verifier(secrets, jwt_secret)
    # When the key is rotated once, its tokens are still accepted (it is the previous key)
    rotate_now(secrets, jwt_secret)
    assert verifier.verify(leaked).tenant == "acme"
    between = _token(secrets, jwt_secret)
    # When it is rotated a second time
    rotate_now(secrets, jwt_secret)
    # Then the leaked key signs nothing that is accepted; the keys since then still work
    with pytest.raises(Unauthorized, match="retired or unknown"):
        verifier.verify(leaked)
    assert verifier.verify(between).tenant == "acme"
    assert verifier.verify(_token(secrets, jwt_secret)).tenant == "acme"
