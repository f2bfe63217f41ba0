"""Revoking API tokens: POST /tokens/revocations, checked by the real authorizer on moto."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import jwt
import pytest

from tests.functional.api.api_harness import ApiEnv, api_env, json_of
from workflows import wiring
from workflows.auth.revocations import RevocationRequest, TokenRevocations
from workflows.auth.tokens import PREVIOUS_KEY_WINDOW, issue_token, signing_key
from workflows.kernel.models import utc_now
from workflows.storage import table
from workflows.storage.revocations import RevocationStore

pytestmark = pytest.mark.functional


@pytest.fixture
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def token_for(env: ApiEnv, tenant: str, sub: str, roles: list[str], *,
              issued_at: datetime | None = None) -> str:
    key = signing_key(env.client("secretsmanager").get_secret_value(
        SecretId=env.resources.jwt_secret_id))
    wiring.tenants().ensure(tenant)
    if issued_at is None:
        return issue_token(key, tenant=tenant, roles=roles, sub=sub, issuer="stepwire",
                           audience="stepwire-api")
    claims = {"sub": sub, "tenant": tenant, "roles": roles, "iss": "stepwire",
              "aud": "stepwire-api", "iat": issued_at, "exp": issued_at + timedelta(hours=1)}
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.version})


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def test_a_token_revoked_by_jti_is_refused_at_once(env: ApiEnv):
    # Given a publisher with two live tokens
    admin = token_for(env, "acme", "ops", ["admin"])
    first, second = (token_for(env, "acme", "ci", ["publisher"]) for _ in range(2))
    assert env.call("GET", "/events", token=first).status == 200
    # When an admin revokes the first by its jti
    answer = env.call("POST", "/tokens/revocations", token=admin, body={"jti": jti_of(first)})
    # Then it is refused by the authorizer, and the other token still works
    assert answer.status == 201, answer.body
    assert json_of(answer)["jti"] == jti_of(first)
    refused = env.call("GET", "/events", token=first)
    assert refused.status == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert env.call("GET", "/events", token=second).status == 200


def test_a_revoked_subject_loses_its_tokens_until_then_and_can_get_new_ones(env: ApiEnv):
    # Given a subject with a token
    admin = token_for(env, "acme", "ops", ["admin"])
    old = token_for(env, "acme", "ci", ["publisher"], issued_at=utc_now() - timedelta(minutes=1))
    # When an admin revokes the subject
    answer = env.call("POST", "/tokens/revocations", token=admin, body={"sub": "ci"})
    assert answer.status == 201, answer.body
    revoked_at = datetime.fromisoformat(json_of(answer)["revoked_at"])
    # Then its token is refused; a token issued after the revocation is accepted
    assert env.call("GET", "/events", token=old).status == 401
    new = token_for(env, "acme", "ci", ["publisher"], issued_at=revoked_at + timedelta(seconds=1))
    assert env.call("GET", "/events", token=new).status == 200


def test_an_admin_revokes_only_its_own_tenants_tokens(env: ApiEnv):
    # Given the subject "ops" in two tenants
    acme_admin = token_for(env, "acme", "ops", ["admin"])
    globex_token = token_for(env, "globex", "ops", ["reader"])
    # When acme's admin revokes globex's token's jti, then "ops" (itself included)
    for body in ({"jti": jti_of(globex_token)}, {"sub": "ops"}):
        assert env.call("POST", "/tokens/revocations", token=acme_admin,
                        body=body).status == 201
    # Then globex's token is untouched; acme's admin revoked itself
    assert env.call("GET", "/events", token=globex_token).status == 200
    assert env.call("GET", "/events", token=acme_admin).status == 401


@pytest.mark.parametrize(("roles", "body", "status"), [
    (["publisher"], {"jti": "tok_x"}, 403),
    (["reader"], {"sub": "someone"}, 403),
    (["admin"], {}, 422),
    (["admin"], {"jti": ""}, 422),
    (["admin"], {"jti": None}, 422),
    (["admin"], {"jti": "tok_x", "tenant": "globex"}, 422),
    (["admin"], {"sub": "x" * 257}, 422),
])
def test_what_is_refused(env: ApiEnv, roles, body, status):
    response = env.call("POST", "/tokens/revocations",
                        token=token_for(env, "acme", "u", roles), body=body)
    assert response.status == status, response.body
    assert json_of(response)["detail"]


def test_a_revocation_expires_after_the_longest_token_lifetime(env: ApiEnv):
    # Given a revocation
    admin = token_for(env, "acme", "ops", ["admin"])
    env.call("POST", "/tokens/revocations", token=admin, body={"jti": "tok_gone"})
    # Then its item carries a DynamoDB TTL of the longest token lifetime (plus the leeway)
    item = env.client("dynamodb").get_item(TableName=env.resources.table_name, Key={
        table.PARTITION_KEY: {"S": table.tenant_key("acme")},
        table.SORT_KEY: {"S": table.revocation_key("jti", "tok_gone")}})["Item"]
    expires_at = int(item[table.TTL_ATTRIBUTE]["N"])
    expected = (utc_now() + PREVIOUS_KEY_WINDOW).timestamp()
    assert expected - 60 <= expires_at <= expected


def test_another_process_sees_a_revocation_when_its_cache_expires(env: ApiEnv):
    # Given two processes (an API and an authorizer) with their own caches
    now = [0.0]
    db = env.client("dynamodb")
    store = RevocationStore(db, env.resources.table_name)
    api = TokenRevocations(store)
    authorizer = TokenRevocations(store, cache_seconds=30, clock=lambda: now[0])
    issued = utc_now() - timedelta(minutes=1)
    assert not authorizer.is_revoked("acme", "tok_1", "ci", issued)
    # When the API revokes the token
    api.revoke("acme", RevocationRequest(jti="tok_1"))
    # Then the authorizer answers from its cache until it expires, then refuses
    now[0] = 29.0
    assert not authorizer.is_revoked("acme", "tok_1", "ci", issued)
    now[0] = 30.0
    assert authorizer.is_revoked("acme", "tok_1", "ci", issued)
