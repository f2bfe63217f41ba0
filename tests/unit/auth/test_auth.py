"""JWT verification: every attack is a 401 (Unauthorized), rotation keeps live tokens valid."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from workflows.auth.roles import Forbidden, Permission, Principal, Role, Unauthorized
from workflows.auth.tokens import (
    MAX_TTL_SECONDS,
    PREVIOUS_KEY_WINDOW,
    SecretsManagerKeys,
    SigningKey,
    TokenPolicy,
    TokenVerifier,
    bearer_token,
    issue_token,
)
from workflows.auth.usage_plans import tenant_usage_key
from workflows.kernel.models import utc_now
from workflows.kernel.settings import Settings

pytestmark = pytest.mark.unit

ISSUER, AUDIENCE, EXTERNAL_ISSUER = "stepwire", "stepwire-api", "https://idp.example"
CURRENT = SigningKey(version="v2", secret=b"current-key-0123456789abcdef0123456789")
PREVIOUS = SigningKey(version="v1", secret=b"previous-key-0123456789abcdef012345678")
RETIRED = SigningKey(version="v0", secret=b"retired-key-0123456789abcdef0123456789")
LEEWAY = 30


class Keys:
    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)

    def signing_keys(self) -> list[SigningKey]:
        return list(self.keys)


class Jwks:
    """The identity provider's key set, as PyJWKClient would fetch it."""

    def __init__(self, public_jwks: dict) -> None:
        self.set = jwt.PyJWKSet.from_dict(public_jwks)

    def get_signing_key(self, kid: str):
        return next(k for k in self.set.keys if k.key_id == kid)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def jwks(rsa_key, ec_key) -> Jwks:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    return Jwks({"keys": [{**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                          {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"}]})


@pytest.fixture
def verifier(jwks) -> TokenVerifier:
    return TokenVerifier(Keys(CURRENT, PREVIOUS),
                         TokenPolicy(issuer=ISSUER, audience=AUDIENCE,
                                     jwks_issuer=EXTERNAL_ISSUER, leeway=LEEWAY), jwks)


def claims(**overrides) -> dict:
    now = utc_now()
    base = {"sub": "user-1", "tenant": "acme", "roles": ["publisher"], "iss": ISSUER,
            "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + timedelta(minutes=5)}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict, key: SigningKey = CURRENT, kid: str | None = "default") -> str:
    headers = {"kid": key.version if kid == "default" else kid} if kid is not None else {}
    return jwt.encode(payload, key.secret, algorithm="HS256", headers=headers)


def test_a_token_issued_with_the_current_key_is_accepted(verifier):
    token = issue_token(CURRENT, tenant="acme", roles=["admin", "reader"], sub="ops",
                        issuer=ISSUER, audience=AUDIENCE, ttl_seconds=60)
    principal = verifier.verify(token)
    assert principal == Principal(sub="ops", tenant="acme",
                                  roles=frozenset({Role.ADMIN, Role.READER}))
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "v2", "typ": "JWT"}


def test_after_a_rotation_the_previous_key_is_accepted_and_a_retired_one_is_not(verifier):
    assert verifier.verify(hs256(claims(), PREVIOUS)).tenant == "acme"
    assert verifier.verify(hs256(claims(), PREVIOUS, kid=None)).tenant == "acme"
    with pytest.raises(Unauthorized, match="retired or unknown"):
        verifier.verify(hs256(claims(), RETIRED))
    with pytest.raises(Unauthorized):
        verifier.verify(hs256(claims(), RETIRED, kid=None))


def _unsigned(payload: dict, header: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, default=str).encode()).rstrip(
            b"=").decode()

    return f"{part(header)}.{part(payload)}."


def _hmac_signed(payload: dict, header: dict, secret: bytes) -> str:
    """Signed by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _attacks(rsa_key) -> dict[str, object]:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = utc_now()
    valid = hs256(claims())
    payload = claims()
    payload.update(iat=int(now.timestamp()), nbf=int(now.timestamp()),
                   exp=int((now + timedelta(minutes=5)).timestamp()))
    return {
        "alg none": _unsigned(payload, {"alg": "none", "typ": "JWT"}),
        "alg None, kid of the current key": _unsigned(payload, {"alg": "None", "kid": "v2"}),
        "HS256 with a wrong key": hs256(claims(), SigningKey("v2", b"guessed-key-" * 4)),
        # The key confusion attack: the RSA public key (public knowledge) as the HMAC secret.
        "HS256 with the RSA public key as secret": _hmac_signed(
            payload, {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, public_pem),
        "expired": hs256(claims(exp=now - timedelta(minutes=5), iat=now - timedelta(hours=1),
                                nbf=now - timedelta(hours=1))),
        "not yet valid": hs256(claims(nbf=now + timedelta(minutes=10),
                                      exp=now + timedelta(minutes=20))),
        "issued in the future": hs256(claims(iat=now + timedelta(minutes=10),
                                             exp=now + timedelta(minutes=20))),
        "wrong iss": hs256(claims(iss="someone-else")),
        "wrong aud": hs256(claims(aud="another-api")),
        "no exp": hs256(claims(exp=None)),
        "no iat": hs256(claims(iat=None)),
        "no tenant": hs256(claims(tenant=None)),
        "tenant of the wrong shape": hs256(claims(tenant="acme#other")),
        "tenant with a trailing newline": hs256(claims(tenant="acme\n")),
        "no roles": hs256(claims(roles=None)),
        "empty roles": hs256(claims(roles=[])),
        "unknown roles only": hs256(claims(roles=["root"])),
        "no sub": hs256(claims(sub=None)),
        "lifetime of 100 years": hs256(claims(exp=now + timedelta(days=36525))),
        "lifetime a second above the maximum": hs256(claims(
            iat=now - timedelta(minutes=1),
            exp=now - timedelta(minutes=1) + timedelta(seconds=MAX_TTL_SECONDS + 1))),
        "RS256 with a lifetime of 100 years": jwt.encode(
            claims(iss=EXTERNAL_ISSUER, exp=now + timedelta(days=36525)), rsa_key,
            algorithm="RS256", headers={"kid": "rsa-1"}),
        "tampered payload (tenant)": _tampered(valid, tenant="other"),
        "tampered payload (roles)": _tampered(valid, roles=["admin"]),
        "RS256 without JWKS issuer": jwt.encode(claims(), rsa_key, algorithm="RS256",
                                                headers={"kid": "rsa-1"}),
        "RS256 signed with an unknown key": jwt.encode(
            claims(iss=EXTERNAL_ISSUER),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256", headers={"kid": "rsa-1"}),
        "RS256 with an unknown kid": jwt.encode(claims(iss=EXTERNAL_ISSUER), rsa_key,
                                                algorithm="RS256", headers={"kid": "nope"}),
        "garbage": "not.a.jwt",
        "empty": "",
    }


ATTACKS = ["alg none", "alg None, kid of the current key", "HS256 with a wrong key",
           "HS256 with the RSA public key as secret", "expired", "not yet valid",
           "issued in the future", "wrong iss", "wrong aud", "no exp", "no iat", "no tenant",
           "tenant of the wrong shape", "tenant with a trailing newline", "no roles",
           "empty roles", "unknown roles only", "no sub", "lifetime of 100 years",
           "lifetime a second above the maximum", "RS256 with a lifetime of 100 years",
           "tampered payload (tenant)",
           "tampered payload (roles)",
           "RS256 without JWKS issuer", "RS256 signed with an unknown key",
           "RS256 with an unknown kid", "garbage", "empty"]


def test_the_attack_list_is_complete(rsa_key):
    assert list(_attacks(rsa_key)) == ATTACKS


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_is_unauthorized(attack, verifier, rsa_key):
    token = _attacks(rsa_key)[attack]
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_the_identity_providers_rs256_and_es256_tokens_are_accepted(verifier, rsa_key, ec_key):
    for key, algorithm, kid in ((rsa_key, "RS256", "rsa-1"), (ec_key, "ES256", "ec-1")):
        token = jwt.encode(claims(iss=EXTERNAL_ISSUER, roles=["reader"]), key,
                           algorithm=algorithm, headers={"kid": kid})
        assert verifier.verify(token).roles == frozenset({Role.READER})


def test_an_es256_token_naming_the_rsa_key_is_refused(verifier, ec_key):
    token = jwt.encode(claims(iss=EXTERNAL_ISSUER), ec_key, algorithm="ES256",
                       headers={"kid": "rsa-1"})
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def required_settings() -> dict[str, str]:
    return {name: "x" for name, field in Settings.model_fields.items() if field.is_required()}


@pytest.mark.parametrize(("leeway", "accepted"), [(30, True), (1, False), (0, False)])
def test_a_token_expired_2_s_ago_passes_only_within_the_leeway_setting(
        leeway, accepted, monkeypatch: pytest.MonkeyPatch):
    # Given the leeway set as an operator sets it (STEPWIRE_JWT_LEEWAY_SECONDS)
    monkeypatch.setenv("STEPWIRE_JWT_LEEWAY_SECONDS", str(leeway))
    settings = Settings(**required_settings())
    verifier = TokenVerifier(Keys(CURRENT), TokenPolicy(
        issuer=ISSUER, audience=AUDIENCE, leeway=settings.jwt_leeway_seconds))
    now = utc_now()
    # When a token that expired 2 s ago is presented
    token = hs256(claims(exp=now - timedelta(seconds=2), iat=now - timedelta(minutes=5),
                         nbf=now - timedelta(minutes=5)))
    # Then it passes within the leeway, and is refused beyond it
    if accepted:
        assert verifier.verify(token).tenant == "acme"
    else:
        with pytest.raises(Unauthorized):
            verifier.verify(token)


def test_the_leeway_defaults_to_30_s_and_is_bounded():
    assert Settings.model_fields["jwt_leeway_seconds"].default == LEEWAY == 30
    with pytest.raises(ValueError):
        Settings(**required_settings(), jwt_leeway_seconds=3600)


def test_without_jwks_an_rs256_token_is_refused(rsa_key):
    verifier = TokenVerifier(Keys(CURRENT),
                             TokenPolicy(issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY))
    with pytest.raises(Unauthorized, match="not accepted"):
        verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256",
                                   headers={"kid": "rsa-1"}))


@pytest.mark.parametrize(("role", "allowed"), [
    (Role.READER, {Permission.READ}),
    (Role.PUBLISHER, {Permission.READ, Permission.PUBLISH, Permission.REPLAY}),
    (Role.ADMIN, set(Permission) - {Permission.MANAGE_TENANTS}),
    (Role.OPERATOR, {Permission.MANAGE_TENANTS}),
])
def test_what_each_role_may_do(role, allowed):
    principal = Principal(sub="s", tenant="t", roles=frozenset({role}))
    for permission in Permission:
        if permission in allowed:
            assert principal.require(permission) is principal
        else:
            with pytest.raises(Forbidden):
                principal.require(permission)


def test_the_principal_travels_through_the_authorizer_context():
    principal = Principal(sub="s", tenant="t", roles=frozenset({Role.ADMIN, Role.READER}))
    assert Principal.from_context({**principal.to_context(), "principalId": "s"}) == principal
    with pytest.raises(Unauthorized):
        Principal.from_context(None)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_a_missing_or_non_bearer_header_is_unauthorized(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_issue_token_refuses_unknown_roles_and_silly_ttls():
    with pytest.raises(ValueError):
        issue_token(CURRENT, tenant="t", roles=["root"], sub="s", issuer=ISSUER,
                    audience=AUDIENCE)
    with pytest.raises(ValueError):
        issue_token(CURRENT, tenant="t", roles=["admin"], sub="s", issuer=ISSUER,
                    audience=AUDIENCE, ttl_seconds=0)


ONE, TWO = "one" * 12, "two" * 12


class FakeSecrets:
    """GetSecretValue by stage, as Secrets Manager answers it."""

    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self) -> None:
        self.stages = {"AWSCURRENT": ("v1", ONE)}
        self.created = {"v1": utc_now(), "v2": utc_now()}
        self.calls = 0

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict:
        self.calls += 1
        if VersionStage not in self.stages:
            raise self.exceptions.ResourceNotFoundException(VersionStage)
        version, value = self.stages[VersionStage]
        return {"VersionId": version, "SecretString": value,
                "CreatedDate": self.created[version]}


def test_the_key_cache_expires_and_an_unknown_kid_refreshes_it_at_once():
    secrets, now = FakeSecrets(), [0.0]
    keys = SecretsManagerKeys(secrets, "jwt", ttl=60, min_refresh=5, clock=lambda: now[0])
    verifier = TokenVerifier(keys, TokenPolicy(issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY))
    assert [k.version for k in keys.signing_keys()] == ["v1"]
    secrets.stages = {"AWSCURRENT": ("v2", TWO), "AWSPREVIOUS": ("v1", ONE)}
    now[0] = 10.0  # within the TTL, but a token names v2: reloaded once
    new = hs256(claims(), SigningKey("v2", TWO.encode()))
    assert verifier.verify(new).tenant == "acme"
    assert verifier.verify(hs256(claims(), SigningKey("v1", ONE.encode()))).tenant == "acme"
    calls = secrets.calls
    with pytest.raises(Unauthorized):
        verifier.verify(hs256(claims(), SigningKey("v0", b"zero" * 10)))
    assert secrets.calls == calls  # refreshed less than 5 s ago: no new load


@pytest.mark.parametrize(("rotated_ago", "accepted"), [
    (timedelta(hours=1), True),
    (PREVIOUS_KEY_WINDOW - timedelta(minutes=1), True),
    (PREVIOUS_KEY_WINDOW + timedelta(minutes=1), False),
    (timedelta(days=29), False),
])
def test_the_previous_key_is_accepted_only_for_the_longest_token_lifetime_after_a_rotation(
        rotated_ago, accepted):
    # Given a rotation `rotated_ago` (the creation of the current version)
    secrets = FakeSecrets()
    secrets.stages = {"AWSCURRENT": ("v2", TWO), "AWSPREVIOUS": ("v1", ONE)}
    secrets.created["v2"] = utc_now() - rotated_ago
    verifier = TokenVerifier(SecretsManagerKeys(secrets, "jwt"),
                             TokenPolicy(issuer=ISSUER, audience=AUDIENCE))
    # When a live token signed with the previous key arrives
    token = hs256(claims(), SigningKey("v1", ONE.encode()))
    # Then it is accepted within the window only; the current key always is
    if accepted:
        assert verifier.verify(token).tenant == "acme"
    else:
        with pytest.raises(Unauthorized, match="retired or unknown"):
            verifier.verify(token)
    assert verifier.verify(hs256(claims(), SigningKey("v2", TWO.encode()))).tenant == "acme"


class Revoked:
    """A revocation list: revoked jtis, and subjects revoked at a time."""

    def __init__(self, jtis=(), subjects=None) -> None:
        self.jtis, self.subjects = set(jtis), dict(subjects or {})
        self.asked: list[tuple] = []

    def is_revoked(self, tenant, jti, sub, issued_at) -> bool:
        self.asked.append((tenant, jti, sub))
        revoked_at = self.subjects.get((tenant, sub))
        return (tenant, jti) in self.jtis or (revoked_at is not None and issued_at <= revoked_at)


def _verifier_with(revoked: Revoked) -> TokenVerifier:
    return TokenVerifier(Keys(CURRENT), TokenPolicy(issuer=ISSUER, audience=AUDIENCE),
                         revocations=revoked)


def test_issued_tokens_carry_a_unique_jti():
    tokens = [issue_token(CURRENT, tenant="acme", roles=["reader"], sub="s", issuer=ISSUER,
                          audience=AUDIENCE) for _ in range(3)]
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 3


def test_a_token_revoked_by_jti_is_refused_and_only_in_its_tenant():
    # Given jti "tok_1" revoked in acme
    revoked = Revoked(jtis={("acme", "tok_1")})
    verifier = _verifier_with(revoked)
    # Then acme's token with that jti is refused, another jti and another tenant are not
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(hs256(claims(jti="tok_1")))
    assert verifier.verify(hs256(claims(jti="tok_2"))).tenant == "acme"
    assert verifier.verify(hs256(claims(jti="tok_1", tenant="globex"))).tenant == "globex"
    assert revoked.asked[0] == ("acme", "tok_1", "user-1")


def test_a_revoked_subject_loses_the_tokens_issued_until_then_only():
    # Given user-1 of acme revoked a minute ago
    now = utc_now()
    verifier = _verifier_with(Revoked(subjects={("acme", "user-1"): now - timedelta(minutes=1)}))
    # Then its older token is refused, a token issued since is accepted
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.verify(hs256(claims(iat=now - timedelta(minutes=2))))
    assert verifier.verify(hs256(claims(iat=now))).sub == "user-1"


def test_a_tenants_api_key_is_stable_distinct_and_acceptable_to_api_gateway():
    key = tenant_usage_key("Stepwire", "acme")
    assert key == tenant_usage_key("Stepwire", "acme")
    assert len({key, tenant_usage_key("Stepwire", "acme2"), tenant_usage_key("Other", "acme"),
                tenant_usage_key("Stepwire", "Acme")}) == 4
    # API Gateway: an API key value has at least 20 characters (and at most 128).
    assert 20 <= len(key) <= 128 and key.isascii() and key.replace("-", "").isalnum()
