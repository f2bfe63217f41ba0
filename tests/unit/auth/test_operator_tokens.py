"""The operator: a token with the role `operator` and no tenant, only from Stepwire's own key;
the authorizer context that carries it (or a tenant's refusal); the tenant gate; the tiers."""

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from workflows.auth.roles import Forbidden, Permission, Principal, Role, Unauthorized
from workflows.auth.tenant_gate import TenantGate
from workflows.auth.tokens import (
    SigningKey,
    TokenPolicy,
    TokenVerifier,
    issue_operator_token,
    issue_tenant_token,
    issue_token,
)
from workflows.auth.usage_plans import DEFAULT_TIERS, Tier, tiers_from_json, tiers_to_json
from workflows.kernel.models import utc_now

pytestmark = pytest.mark.unit

KEY = SigningKey(version="v1", secret=b"operator-test-key-0123456789abcdef0123")
POLICY = TokenPolicy(issuer="stepwire", audience="stepwire-api")


class Keys:
    def signing_keys(self) -> list[SigningKey]:
        return [KEY]


class Jwks:
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = jwt.PyJWK.from_dict({**jwt.algorithms.RSAAlgorithm.to_jwk(
            key.public_key(), as_dict=True), "kid": "idp-1", "alg": "RS256"})

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        return self.key


def test_an_operator_token_has_no_tenant_and_only_manages_tenants():
    token = issue_operator_token(KEY, sub="ops", issuer="stepwire", audience="stepwire-api")
    principal = TokenVerifier(Keys(), POLICY).verify(token)

    assert principal == Principal(sub="ops", tenant=None, roles=frozenset({Role.OPERATOR}))
    assert "tenant" not in jwt.decode(token, options={"verify_signature": False})
    assert principal.require(Permission.MANAGE_TENANTS) is principal
    with pytest.raises(Forbidden, match="operator acts on no tenant's data"):
        principal.require(Permission.READ)
    with pytest.raises(Forbidden):
        _ = principal.tenant_id


@pytest.mark.parametrize("claims", [
    {"roles": ["operator"], "tenant": "acme"},  # an operator of a tenant
    {"roles": ["operator", "admin"]},  # an operator and a tenant role
    {"roles": ["operator", "admin"], "tenant": "acme"},
])
def test_a_token_that_mixes_the_operator_with_a_tenant_is_refused(claims):
    now = utc_now()
    token = jwt.encode({"sub": "x", "iss": "stepwire", "aud": "stepwire-api", "iat": now,
                        "exp": now + timedelta(minutes=5), **claims}, KEY.secret,
                       algorithm="HS256", headers={"kid": KEY.version})
    with pytest.raises(Unauthorized, match="operator token names no tenant"):
        TokenVerifier(Keys(), POLICY).verify(token)


def test_an_identity_providers_token_never_makes_an_operator():
    idp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = utc_now()
    token = jwt.encode({"sub": "x", "roles": ["operator"], "iss": "stepwire",
                        "aud": "stepwire-api", "iat": now, "exp": now + timedelta(minutes=5)},
                       idp_key, algorithm="RS256", headers={"kid": "idp-1"})
    with pytest.raises(Unauthorized, match="only in tokens signed with Stepwire's own key"):
        TokenVerifier(Keys(), POLICY, Jwks(idp_key)).verify(token)


def test_a_tenant_token_cannot_carry_the_operator_role():
    with pytest.raises(ValueError, match="admin, publisher, reader"):
        issue_token(KEY, tenant="acme", roles=["operator"], sub="x", issuer="stepwire",
                    audience="stepwire-api")


def test_an_issued_token_says_when_it_expires():
    issued = issue_tenant_token(KEY, tenant="acme", roles=["reader"], sub="x",
                                issuer="stepwire", audience="stepwire-api", ttl_seconds=120)
    claims = jwt.decode(issued.token, KEY.secret, algorithms=["HS256"],
                        audience="stepwire-api")
    assert int(issued.expires_at.timestamp()) == claims["exp"]


def test_the_context_carries_the_operator_and_a_tenants_refusal():
    operator = Principal(sub="ops", tenant=None, roles=frozenset({Role.OPERATOR}))
    assert Principal.from_context(operator.to_context()) == operator

    reader = Principal(sub="u", tenant="acme", roles=frozenset({Role.READER}))
    with pytest.raises(Forbidden, match="is suspended"):
        Principal.from_context(reader.to_context("tenant 'acme' is suspended"))
    with pytest.raises(Unauthorized):  # a tenant role without a tenant
        Principal.from_context({"tenant": "", "roles": "reader", "sub": "u"})
    with pytest.raises(Unauthorized):  # an operator with a tenant
        Principal.from_context({"tenant": "acme", "roles": "operator", "sub": "u"})


class Records:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.reads = 0

    def get_tenant(self, tenant: str, *, consistent: bool = True) -> dict | None:
        self.reads += 1
        return self.rows.get(tenant)


def test_the_gate_names_the_tenant_and_caches_until_told():
    records, now = Records(), [0.0]
    gate = TenantGate(records, cache_seconds=30, clock=lambda: now[0])

    assert "tenant 'acme' is not registered" in gate.refusal("acme")
    records.rows["acme"] = {"status": "active"}
    assert gate.refusal("acme") is not None  # cached for 30 s
    now[0] = 31.0
    assert gate.refusal("acme") is None
    records.rows["acme"] = {"status": "suspended"}
    gate.forget("acme")  # a change made in this process
    assert "tenant 'acme' is suspended" in gate.refusal("acme")
    assert records.reads == 3


def test_the_tiers_round_trip_and_must_hold_the_default():
    assert tiers_from_json(tiers_to_json(DEFAULT_TIERS)) == DEFAULT_TIERS
    with pytest.raises(ValueError, match="must include 'standard'"):
        tiers_from_json('{"large": {"rate": 5, "burst": 5}}')
    with pytest.raises(ValueError, match="burst must be at least its rate"):
        Tier(rate=10, burst=5)
    with pytest.raises(ValueError, match="rate must be an integer"):
        Tier(rate=True, burst=5)  # type: ignore[arg-type]


def test_an_operator_token_lives_at_most_twelve_hours():
    with pytest.raises(ValueError, match="at most 43200 seconds"):
        issue_operator_token(KEY, sub="ops", issuer="stepwire", audience="stepwire-api",
                             ttl_seconds=12 * 3600 + 1)
    now = utc_now()
    long_lived = jwt.encode({"sub": "ops", "roles": ["operator"], "iss": "stepwire",
                             "aud": "stepwire-api", "iat": now, "exp": now + timedelta(days=2)},
                            KEY.secret, algorithm="HS256", headers={"kid": KEY.version})
    with pytest.raises(Unauthorized, match="operator token lives at most"):
        TokenVerifier(Keys(), POLICY).verify(long_lived)


def test_roles_that_are_not_names_are_a_401_not_a_crash():
    now = utc_now()
    token = jwt.encode({"sub": "x", "roles": ["operator", {}], "iss": "stepwire",
                        "aud": "stepwire-api", "iat": now, "exp": now + timedelta(minutes=5)},
                       KEY.secret, algorithm="HS256", headers={"kid": KEY.version})
    with pytest.raises(Unauthorized, match="'roles' claim"):
        TokenVerifier(Keys(), POLICY).verify(token)
