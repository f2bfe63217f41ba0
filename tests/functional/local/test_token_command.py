"""`stepwire token --stack`: a token for a deployed stack, signed with the key its outputs name,
read with the caller's AWS credentials (moto's CloudFormation and Secrets Manager here); the
token verifies as the deployed authorizer verifies it."""

import json
from collections.abc import Iterator

import boto3
import jwt
import pytest
from moto import mock_aws

from stepwire import cli
from workflows.auth.roles import Role
from workflows.auth.tokens import SecretsManagerKeys, TokenPolicy, TokenVerifier

pytestmark = pytest.mark.functional

REGION = "eu-west-1"
STACK = "Stepwire"
ISSUER, AUDIENCE = "stepwire-prod", "stepwire-prod-api"


def template(secret_arn: str, outputs: tuple[str, ...]) -> str:
    # moto's CloudFormation makes no secret: the stack's outputs name one made beside it.
    values = {"JwtSecretArn": secret_arn, "JwtIssuer": ISSUER, "JwtAudience": AUDIENCE}
    return json.dumps({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": values[name]} for name in outputs}})


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A deployed stack's outputs and secret; the caller's credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(Name="Stepwire/jwt-signing-key",
                                    SecretString="old" * 16)["ARN"]
        secrets.put_secret_value(SecretId=arn, SecretString="current" * 8)  # one rotation
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(StackName=STACK, TemplateBody=template(
            arn, ("JwtSecretArn", "JwtIssuer", "JwtAudience")))
        cloudformation.create_stack(StackName="Older",
                                    TemplateBody=template(arn, ("JwtIssuer",)))
        yield arn


def verifier(secret_arn: str) -> TokenVerifier:
    keys = SecretsManagerKeys(boto3.client("secretsmanager", region_name=REGION), secret_arn)
    return TokenVerifier(keys, TokenPolicy(issuer=ISSUER, audience=AUDIENCE))


def test_an_operator_token_for_a_deployed_stack_verifies_with_its_current_key(
        deployed: str, capsys: pytest.CaptureFixture[str]):
    # When the operator asks for a token of the stack in its Region
    code = cli.main(["token", "--stack", STACK, "--region", REGION, "--operator", "--ttl", "600"])

    # Then the token alone is printed, and the stack's authorizer accepts it as the operator
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1
    token = out.strip()
    principal = verifier(deployed).verify(token)
    assert principal.is_operator and principal.tenant is None
    assert principal.roles == {Role.OPERATOR} and principal.sub == "stepwire-token:operator"
    current = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=deployed)
    assert jwt.get_unverified_header(token)["kid"] == current["VersionId"]


def test_a_tenant_token_for_a_deployed_stack_registers_nothing_and_says_so(
        deployed: str, capsys: pytest.CaptureFixture[str]):
    code = cli.main(["token", "--stack", STACK, "--region", REGION, "--tenant", "acme",
                     "--roles", "admin,publisher", "--sub", "backend@acme"])

    captured = capsys.readouterr()
    assert code == 0
    principal = verifier(deployed).verify(captured.out.strip())
    assert (principal.tenant, principal.sub) == ("acme", "backend@acme")
    assert principal.roles == {Role.ADMIN, Role.PUBLISHER}
    assert "an operator creates it with POST /tenants" in captured.err


@pytest.mark.parametrize(("argv", "code", "said"), [
    (["--stack", "Missing", "--region", REGION, "--operator"], 1, "cannot read the signing key "
     "of the stack Missing"),
    (["--stack", "Older", "--region", REGION, "--operator"], 1,
     "has no output JwtSecretArn, JwtAudience"),
    (["--stack", STACK, "--operator"], 2, "--stack needs a Region"),
    (["--stack", STACK, "--region", REGION, "--tenant", "acme"], 2, "--tenant needs --roles"),
    (["--stack", STACK, "--region", REGION, "--operator", "--roles", "admin"], 2,
     "an operator token has no --roles"),
])
def test_what_stops_a_deployed_token_is_said_on_stderr(
        deployed: str, capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
        said: str):
    assert cli.main(["token", *argv]) == code

    captured = capsys.readouterr()
    assert captured.out == "" and said in captured.err
