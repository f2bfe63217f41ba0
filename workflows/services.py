"""The objects the use cases need, built from settings once per process.

The delivery and ingest handlers import this module on their cold start: what only the API and
the authorizer use (JWT, cursors, Powertools Idempotency) is imported where it is built.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from workflows import aws, secret_box
from workflows.settings import Settings, get_settings
from workflows.storage import Store
from workflows.target_guard import TargetPolicy

if TYPE_CHECKING:
    from workflows.auth import SecretsManagerKeys, TokenVerifier
    from workflows.cursor import CursorCodec
    from workflows.idempotency import Idempotency
    from workflows.recovery_handover import RecoveryExecutions
    from workflows.revocations import TokenRevocations


@cache
def store() -> Store:
    settings = get_settings()
    return Store(aws.client("dynamodb"), settings.table_name,
                 data_key_secret_id=settings.data_key_secret_id,
                 retention=timedelta(days=settings.retention_days))


@cache
def publish_idempotency() -> Idempotency:
    from workflows.idempotency import Idempotency

    return Idempotency(aws.client("dynamodb"), get_settings().idempotency_table_name)


def recovery_executions() -> RecoveryExecutions:
    from workflows.recovery_handover import RecoveryExecutions

    return RecoveryExecutions(aws.client("stepfunctions"),
                              get_settings().recovery_state_machine_arn)


def target_policy(settings: Settings | None = None) -> TargetPolicy:
    settings = settings or get_settings()
    return TargetPolicy(allow_private=settings.allow_private_targets,
                        require_https=settings.require_https)


@cache
def cursor_codec() -> CursorCodec:
    from workflows.cursor import CursorCodec

    return CursorCodec.from_secret(get_settings().data_key_secret_id)


@cache
def jwt_keys() -> SecretsManagerKeys:
    from workflows.auth import SecretsManagerKeys

    settings = get_settings()
    return SecretsManagerKeys(aws.client("secretsmanager"), settings.jwt_secret_id,
                              ttl=settings.jwt_key_cache_seconds)


@cache
def token_revocations() -> TokenRevocations:
    from workflows.revocations import TokenRevocations
    from workflows.storage.revocations import RevocationStore

    return TokenRevocations(RevocationStore(aws.client("dynamodb"), get_settings().table_name))


@cache
def token_verifier() -> TokenVerifier:
    """HS256 with the current/previous signing key; RS256/ES256 through a JWKS if configured;
    revoked tokens refused."""
    import jwt

    from workflows.auth import TokenPolicy, TokenVerifier

    settings = get_settings()
    jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300) \
        if settings.jwt_jwks_url else None
    return TokenVerifier(jwt_keys(), TokenPolicy(issuer=settings.jwt_issuer,
                                                 audience=settings.jwt_audience,
                                                 jwks_issuer=settings.jwt_jwks_issuer,
                                                 leeway=settings.jwt_leeway_seconds), jwks,
                         revocations=token_revocations())


def reset() -> None:
    """Forget everything built from the environment (the local runtime calls this on start)."""
    store.cache_clear()
    publish_idempotency.cache_clear()
    cursor_codec.cache_clear()
    jwt_keys.cache_clear()
    token_revocations.cache_clear()
    token_verifier.cache_clear()
    if "workflows.cursor" in sys.modules:
        sys.modules["workflows.cursor"].reset()
    secret_box.reset()
    aws.reset_clients()
