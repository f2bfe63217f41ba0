"""The authorizer hands API Gateway the verified tenant's API key (`usageIdentifierKey`), so
the usage plan throttles per tenant; the key is the one the tenant-limits function creates for
that tenant. The operator has the platform's key; an unregistered or suspended tenant's token
gets the refused key and a refusal the API answers 403 with."""

from collections.abc import Iterator

import pytest

from lambdas import handle_authorize_request
from stepwire.host.lambda_host import LambdaContext
from tests.functional.api.api_harness import ApiEnv, api_env
from workflows import wiring
from workflows.auth.usage_plans import operator_usage_key, refused_usage_key, tenant_usage_key
from workflows.kernel.settings import get_settings
from workflows.operations.tenants import TenantChanges

pytestmark = pytest.mark.functional

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/POST/events"


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("STEPWIRE_API_USAGE_KEY_NAMESPACE", "Stepwire")
    get_settings.cache_clear()
    yield "Stepwire"
    monkeypatch.undo()
    get_settings.cache_clear()


def authorize(token: str) -> dict:
    return handle_authorize_request.lambda_handler(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": METHOD_ARN},
        LambdaContext(function_name="stepwire-authorizer",
                      invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:a"))


def test_the_answer_carries_the_tenants_own_api_key(env: ApiEnv, namespace: str):
    # Given valid tokens of two tenants, one of them with two roles
    acme = authorize(env.token("acme", ["reader"]))
    acme_admin = authorize(env.token("acme", ["admin"]))
    globex = authorize(env.token("globex", ["publisher"]))

    # Then each answer names its tenant's key: the same for every token of a tenant
    assert acme["usageIdentifierKey"] == tenant_usage_key(namespace, "acme")
    assert acme_admin["usageIdentifierKey"] == acme["usageIdentifierKey"]
    assert globex["usageIdentifierKey"] == tenant_usage_key(namespace, "globex")
    assert globex["usageIdentifierKey"] != acme["usageIdentifierKey"]
    assert acme["context"]["tenant"] == "acme"
    assert acme["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_a_refused_token_gets_no_key(env: ApiEnv, namespace: str):
    # Given a token whose signature was tampered with
    token = env.token("acme", ["admin"])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    # Then the authorizer answers Unauthorized (401), never an Allow with a key
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(forged)


def test_the_key_depends_on_the_deployment(env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    # Given the same tenant in two stacks of one Region (API key values are unique there)
    keys = set()
    for stack in ("Stepwire", "StepwireStaging"):
        monkeypatch.setenv("STEPWIRE_API_USAGE_KEY_NAMESPACE", stack)
        get_settings.cache_clear()
        keys.add(authorize(env.token("acme", ["reader"]))["usageIdentifierKey"])
    get_settings.cache_clear()

    # Then each deployment has its own key for it
    assert len(keys) == 2


def test_the_operator_has_the_platforms_key_and_no_tenant(env: ApiEnv, namespace: str):
    answer = authorize(env.operator_token())

    assert answer["usageIdentifierKey"] == operator_usage_key(namespace)
    assert answer["context"] == {"tenant": "", "roles": "operator", "sub": "operator@platform"}


def test_an_unregistered_tenant_is_refused_by_name(env: ApiEnv, namespace: str):
    # Given a token minted by hand for a tenant nobody created
    answer = authorize(env.token("initech", ["admin"], register=False))

    # Then it is allowed through to the API with the refused key and why it is refused
    assert answer["usageIdentifierKey"] == refused_usage_key(namespace)
    assert "tenant 'initech' is not registered" in answer["context"]["refusal"]


def test_a_suspended_tenant_is_refused_and_a_resumed_one_served(env: ApiEnv, namespace: str):
    token = env.token("hooli", ["publisher"])
    wiring.tenants().update("hooli", TenantChanges(status="suspended"))

    suspended = authorize(token)
    assert suspended["usageIdentifierKey"] == refused_usage_key(namespace)
    assert "tenant 'hooli' is suspended" in suspended["context"]["refusal"]

    wiring.tenants().update("hooli", TenantChanges(status="active"))
    resumed = authorize(token)
    assert resumed["usageIdentifierKey"] == tenant_usage_key(namespace, "hooli")
    assert "refusal" not in resumed["context"]
