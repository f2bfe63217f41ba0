"""The objects the use cases need, built from settings once per process."""

from datetime import timedelta
from functools import cache

from workflows import aws, cursor, secret_box
from workflows.auth import SecretsManagerKeys, TokenPolicy, TokenVerifier
from workflows.cursor import CursorCodec
from workflows.idempotency import Idempotency
from workflows.settings import Settings, get_settings
from workflows.storage import Store
from workflows.target_guard import TargetPolicy


@cache
def store() -> Store:
    settings = get_settings()
    return Store(aws.client("dynamodb"), settings.table_name,
                 data_key_secret_id=settings.data_key_secret_id,
                 retention=timedelta(days=settings.retention_days))


@cache
def publish_idempotency() -> Idempotency:
    return Idempotency(aws.client("dynamodb"), get_settings().idempotency_table_name)


def target_policy(settings: Settings | None = None) -> TargetPolicy:
    settings = settings or get_settings()
    return TargetPolicy(allow_private=settings.allow_private_targets,
                        require_https=settings.require_https)


@cache
def cursor_codec() -> CursorCodec:
    return CursorCodec.from_secret(get_settings().data_key_secret_id)


@cache
def jwt_keys() -> SecretsManagerKeys:
    settings = get_settings()
    return SecretsManagerKeys(aws.client("secretsmanager"), settings.jwt_secret_id,
                              ttl=settings.jwt_key_cache_seconds)


@cache
def token_verifier() -> TokenVerifier:
    """HS256 with the current/previous signing key; RS256/ES256 through a JWKS if configured."""
    import jwt

    settings = get_settings()
    jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300) \
        if settings.jwt_jwks_url else None
    return TokenVerifier(jwt_keys(), TokenPolicy(issuer=settings.jwt_issuer,
                                                 audience=settings.jwt_audience,
                                                 jwks_issuer=settings.jwt_jwks_issuer), jwks)


def reset() -> None:
    """Forget everything built from the environment (the local runtime calls this on start)."""
    store.cache_clear()
    publish_idempotency.cache_clear()
    cursor_codec.cache_clear()
    jwt_keys.cache_clear()
    token_verifier.cache_clear()
    cursor.reset()
    secret_box.reset()
    aws.reset_clients()
