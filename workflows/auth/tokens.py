"""The HTTP API's tokens: issue and verify JWTs (roles and permissions: `roles.py`).

Stepwire's own tokens are HS256, signed with the secret `jwt_secret_id`. The token header's
`kid` is the secret's version id; the current and the previous version are both accepted, so a
rotation never breaks a live token, and a version older than that (retired) is refused.
Optionally an external identity provider's RS256/ES256 tokens are accepted through its JWKS.
The algorithm is pinned per key family: an HS256 token is only ever checked against the HMAC
keys, an RS256/ES256 token only against the JWKS, so no public key can be used as a secret.

No token lives longer than MAX_TTL_SECONDS (`exp - iat`, whoever issued it), so the previous key
is accepted only for that long after a rotation, and a revocation (by `jti`, or of every token
of a subject issued until then) needs to be kept only that long.
"""

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt

from workflows.auth.roles import TENANT_ROLES, Principal, Role, Unauthorized
from workflows.kernel.ids import new_id
from workflows.kernel.models import TENANT_PATTERN, utc_now
from workflows.kernel.settings import LEEWAY_SECONDS, MAX_LEEWAY_SECONDS

HMAC_ALGORITHM = "HS256"
JWKS_ALGORITHMS = ("RS256", "ES256")
_KEY_FAMILY = {"RS256": "RSA", "ES256": "EC"}
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
MAX_TTL_SECONDS = 7 * 24 * 3600
# The operator's tokens can mint any tenant's and no tenant can revoke them: they live a day's
# work at most.
OPERATOR_MAX_TTL_SECONDS = 12 * 3600
# After a rotation no token signed with the previous key can still be valid past this window
# (whatever leeway is set).
PREVIOUS_KEY_WINDOW = timedelta(seconds=MAX_TTL_SECONDS + MAX_LEEWAY_SECONDS)


@dataclass(frozen=True)
class SigningKey:
    version: str
    secret: bytes
    accepted_until: datetime | None = None  # the previous key: refused after this

    def accepted_at(self, now: datetime) -> bool:
        return self.accepted_until is None or now < self.accepted_until


def signing_key(secret_value: dict[str, Any]) -> SigningKey:
    """The key of a Secrets Manager GetSecretValue response (its version is the `kid`)."""
    return SigningKey(version=secret_value["VersionId"],
                      secret=secret_value["SecretString"].encode())


class KeySource(Protocol):
    def signing_keys(self) -> list[SigningKey]:
        """The accepted HMAC keys, current first (at most current and previous)."""


class SecretsManagerKeys:
    """The current and previous versions of a Secrets Manager secret, cached for `ttl` seconds.

    The previous version is accepted for `previous_window` after the current one was created
    (the rotation), when every token it signed has expired. A token naming an unknown version
    refreshes the cache at most once per `min_refresh` seconds, so a key that was just rotated
    in is seen at once.
    """

    def __init__(self, client: Any, secret_id: str, *, ttl: float = 60.0,
                 min_refresh: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 previous_window: timedelta = PREVIOUS_KEY_WINDOW) -> None:
        self._client = client
        self._secret_id = secret_id
        self._previous_window = previous_window
        self._ttl = ttl
        self._min_refresh = min(min_refresh, ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._loaded_at: float | None = None

    def signing_keys(self) -> list[SigningKey]:
        with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at >= self._ttl:
                self._load()
            return list(self._keys)

    def refresh(self) -> None:
        """Reload unless loaded very recently (an unknown `kid`)."""
        with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at >= self._min_refresh:
                self._load()

    def _load(self) -> None:
        current = self._client.get_secret_value(SecretId=self._secret_id,
                                                VersionStage="AWSCURRENT")
        keys = [signing_key(current)]
        try:
            previous = self._client.get_secret_value(SecretId=self._secret_id,
                                                     VersionStage="AWSPREVIOUS")
        except self._client.exceptions.ResourceNotFoundException:
            previous = None  # no previous version before the first rotation
        if previous is not None:
            # The current version's creation is the rotation (its steps take seconds).
            keys.append(SigningKey(previous["VersionId"], previous["SecretString"].encode(),
                                   accepted_until=current["CreatedDate"] + self._previous_window))
        self._keys = keys
        self._loaded_at = self._clock()


class JwksKeys(Protocol):
    def get_signing_key(self, kid: str) -> Any:
        """A `jwt.PyJWK` for `kid`, or raise."""


class RevocationList(Protocol):
    def is_revoked(self, tenant: str, jti: str | None, sub: str, issued_at: datetime) -> bool:
        """Whether the token `jti`, or every token of `sub` issued by `issued_at`, is revoked."""


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    jwks_issuer: str | None = None
    # Seconds of clock skew tolerated on exp/iat/nbf (Settings.jwt_leeway_seconds).
    leeway: int = LEEWAY_SECONDS
    max_ttl: int = MAX_TTL_SECONDS


class TokenVerifier:
    def __init__(self, keys: KeySource, policy: TokenPolicy, jwks: JwksKeys | None = None,
                 revocations: RevocationList | None = None) -> None:
        self._keys = keys
        self._policy = policy
        self._jwks = jwks
        self._revocations = revocations

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from None
        algorithm = header.get("alg")
        if algorithm == HMAC_ALGORITHM:
            claims = self._verify_hmac(token, header.get("kid"))
        elif algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            claims = self._verify_jwks(token, header.get("kid"), algorithm)
        else:
            raise Unauthorized(f"the algorithm {algorithm!r} is not accepted")
        lifetime = claims["exp"] - claims["iat"]
        if not isinstance(lifetime, int | float) or lifetime > self._policy.max_ttl:
            raise Unauthorized(f"the token lives longer than {self._policy.max_ttl} s "
                               "(exp - iat)")
        principal = principal_from_claims(claims)
        if principal.is_operator and algorithm != HMAC_ALGORITHM:
            # An identity provider speaks for tenants' users, never for the platform itself.
            raise Unauthorized("the operator role is accepted only in tokens signed with "
                               "Stepwire's own key")
        if principal.is_operator and lifetime > OPERATOR_MAX_TTL_SECONDS:
            raise Unauthorized(f"an operator token lives at most {OPERATOR_MAX_TTL_SECONDS} s "
                               "(exp - iat)")
        jti = claims.get("jti")
        # The operator's tokens are not revocable by a tenant (a key rotation ends them).
        if principal.tenant is not None and self._revocations is not None and \
                self._revocations.is_revoked(
                principal.tenant, jti if isinstance(jti, str) else None, principal.sub,
                datetime.fromtimestamp(claims["iat"], UTC)):
            raise Unauthorized("the token has been revoked")
        return principal

    def _verify_hmac(self, token: str, kid: Any) -> dict[str, Any]:
        keys = self._candidates(kid)
        if not keys and isinstance(self._keys, SecretsManagerKeys):
            self._keys.refresh()
            keys = self._candidates(kid)
        if not keys:
            raise Unauthorized("the token's key version is not accepted (retired or unknown)")
        last: Exception | None = None
        for key in keys:
            try:
                return self._decode(token, key.secret, [HMAC_ALGORITHM], self._policy.issuer)
            except jwt.InvalidSignatureError as exc:
                last = exc
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"invalid token: {exc}") from None
        raise Unauthorized(f"invalid token: {last}")

    def _candidates(self, kid: Any) -> list[SigningKey]:
        now = utc_now()
        keys = [k for k in self._keys.signing_keys() if k.accepted_at(now)]
        if kid is None:
            return keys
        return [k for k in keys if k.version == kid]

    def _verify_jwks(self, token: str, kid: Any, algorithm: str) -> dict[str, Any]:
        assert self._jwks is not None
        if not kid:
            raise Unauthorized("an RS256/ES256 token must name its key (kid)")
        try:
            key = self._jwks.get_signing_key(str(kid))
        except Exception as exc:  # any lookup failure is an unknown key
            raise Unauthorized(f"unknown signing key: {exc}") from None
        if _KEY_FAMILY[algorithm] != getattr(key, "key_type", None):
            raise Unauthorized("the token's algorithm does not match its key")
        try:
            return self._decode(token, key.key, [algorithm],
                                self._policy.jwks_issuer or self._policy.issuer)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None

    def _decode(self, token: str, key: Any, algorithms: list[str], issuer: str) -> dict[str, Any]:
        return jwt.decode(token, key, algorithms=algorithms, audience=self._policy.audience,
                          issuer=issuer, leeway=self._policy.leeway,
                          options={"require": REQUIRED_CLAIMS, "verify_signature": True,
                                   "verify_exp": True, "verify_nbf": True, "verify_iat": True,
                                   "verify_aud": True, "verify_iss": True})


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """A tenant's principal (a `tenant` claim and tenant roles), or the operator's (the role
    `operator` alone and no tenant): a token is never both."""
    tenant, roles, sub = claims.get("tenant"), claims.get("roles"), claims.get("sub")
    if isinstance(roles, str):
        roles = roles.split(",")  # some identity providers flatten lists
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("the token has no 'roles' claim (a list of role names)")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("the token has no 'sub' claim")
    if Role.OPERATOR in roles:
        if len(set(roles)) > 1 or tenant is not None:
            raise Unauthorized("an operator token names no tenant and no other role")
        return Principal(sub=sub, tenant=None, roles=frozenset({Role.OPERATOR}))
    if not isinstance(tenant, str) or not re.fullmatch(TENANT_PATTERN, tenant):
        raise Unauthorized("the token has no valid 'tenant' claim")
    known = {r for r in roles if r in TENANT_ROLES}
    if not known:
        raise Unauthorized("the token names no known role (admin, publisher, reader)")
    return Principal(sub=sub, tenant=tenant, roles=frozenset(Role(r) for r in known))


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(key: SigningKey, *, tenant: str, roles: Iterable[str], sub: str,
                issuer: str, audience: str, ttl_seconds: int = 3600) -> str:
    """An HS256 token for `tenant` with `roles`, signed with `key` (its version as `kid`)."""
    return issue_tenant_token(key, tenant=tenant, roles=roles, sub=sub, issuer=issuer,
                              audience=audience, ttl_seconds=ttl_seconds).token


def issue_tenant_token(key: SigningKey, *, tenant: str, roles: Iterable[str], sub: str,
                       issuer: str, audience: str, ttl_seconds: int = 3600) -> IssuedToken:
    """`issue_token`, with when the token expires."""
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in TENANT_ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be among admin, publisher, reader (got {roles})")
    return _signed(key, {"sub": sub, "tenant": tenant, "roles": roles}, issuer=issuer,
                   audience=audience, ttl_seconds=ttl_seconds)


def issue_operator_token(key: SigningKey, *, sub: str, issuer: str, audience: str,
                         ttl_seconds: int = 3600) -> str:
    """An HS256 token of the platform's operator: the role `operator`, no tenant."""
    if ttl_seconds > OPERATOR_MAX_TTL_SECONDS:
        raise ValueError(f"an operator token lives at most {OPERATOR_MAX_TTL_SECONDS} seconds")
    return _signed(key, {"sub": sub, "roles": [Role.OPERATOR.value]}, issuer=issuer,
                   audience=audience, ttl_seconds=ttl_seconds).token


def _signed(key: SigningKey, identity: dict[str, Any], *, issuer: str, audience: str,
            ttl_seconds: int) -> IssuedToken:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"the ttl must be between 1 and {MAX_TTL_SECONDS} seconds")
    now = utc_now()
    expires_at = now + timedelta(seconds=ttl_seconds)
    claims = {**identity, "iss": issuer, "aud": audience, "iat": now, "nbf": now,
              "exp": expires_at, "jti": new_id("tok")}  # what an admin revokes one token by
    return IssuedToken(jwt.encode(claims, key.secret, algorithm=HMAC_ALGORITHM,
                                  headers={"kid": key.version}), expires_at.replace(microsecond=0))


def bearer_token(header_value: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header_value:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()
