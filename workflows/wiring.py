"""The objects the use cases need, built from settings once per process.

The delivery and ingest handlers import this module on their cold start: what only the API and
the authorizer use (JWT, cursors, Powertools Idempotency) is imported where it is built.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from workflows.delivery.target_guard import TargetPolicy
from workflows.kernel import aws
from workflows.kernel.settings import get_settings
from workflows.secrets import secret_box
from workflows.storage import Store

if TYPE_CHECKING:
    from workflows.auth.revocations import TokenRevocations
    from workflows.auth.tenant_gate import TenantGate
    from workflows.auth.tokens import SecretsManagerKeys, TokenVerifier
    from workflows.auth.usage_plans import Tier, UsagePlanKeys
    from workflows.ingest.fan_out import FanOut
    from workflows.operations.cursor import CursorCodec
    from workflows.operations.idempotency import Idempotency
    from workflows.operations.tenants import Tenants
    from workflows.recovery.handover import RecoveryExecutions
    from workflows.recovery.liveness import RecoveryLiveness
    from workflows.recovery.reconcile import ReconcileConfig
    from workflows.recovery.reconcile_finds import EnsureRecovery


@cache
def store() -> Store:
    settings = get_settings()
    return Store(aws.client("dynamodb"), settings.table_name,
                 data_key_secret_id=settings.data_key_secret_id,
                 retention=timedelta(days=settings.retention_days))


def fan_out() -> FanOut:
    from workflows.ingest.fan_out import FanOut

    settings = get_settings()
    return FanOut(store(), aws.client("stepfunctions"),
                  notification_state_machine_arn=settings.notification_state_machine_arn,
                  ingest_state_machine_arn=settings.ingest_state_machine_arn)


@cache
def publish_idempotency() -> Idempotency:
    from workflows.operations.idempotency import Idempotency

    return Idempotency(aws.client("dynamodb"), get_settings().idempotency_table_name)


def recovery_executions() -> RecoveryExecutions:
    from workflows.recovery.handover import RecoveryExecutions

    return RecoveryExecutions(aws.client("stepfunctions"),
                              get_settings().recovery_state_machine_arn)


def reconcile_config() -> ReconcileConfig:
    from workflows.recovery.reconcile import ReconcileConfig

    return ReconcileConfig.from_settings(get_settings())


def live_recovery() -> EnsureRecovery:
    """What the reconciler calls for each endpoint in recovery: start its recovery execution
    unless one lives (True when it had to)."""
    from workflows.recovery.liveness import ensure_live_recovery

    return ensure_live_recovery


def recovery_liveness(recovery_state_machine_arn: str | None = None) -> RecoveryLiveness:
    """Whether an endpoint's named recovery still runs (a running one is trusted a while)."""
    from workflows.recovery.liveness import TRUST_RUNNING_SECONDS, RecoveryLiveness

    settings = get_settings()
    return RecoveryLiveness(aws.client("stepfunctions"),
                            recovery_state_machine_arn or settings.recovery_state_machine_arn,
                            store(), trust_running_seconds=TRUST_RUNNING_SECONDS
                            * settings.time_scale)


def target_policy() -> TargetPolicy:
    return TargetPolicy.from_settings(get_settings())


@cache
def cursor_codec() -> CursorCodec:
    from workflows.operations.cursor import CursorCodec

    return CursorCodec.from_secret(get_settings().data_key_secret_id)


@cache
def jwt_keys() -> SecretsManagerKeys:
    from workflows.auth.tokens import SecretsManagerKeys

    settings = get_settings()
    return SecretsManagerKeys(aws.client("secretsmanager"), settings.jwt_secret_id,
                              ttl=settings.jwt_key_cache_seconds)


@cache
def token_revocations() -> TokenRevocations:
    from workflows.auth.revocations import TokenRevocations
    from workflows.storage.revocations import RevocationStore

    return TokenRevocations(RevocationStore(aws.client("dynamodb"), get_settings().table_name))


@cache
def token_verifier() -> TokenVerifier:
    """HS256 with the current/previous signing key; RS256/ES256 through a JWKS if configured;
    revoked tokens refused."""
    import jwt

    from workflows.auth.tokens import TokenPolicy, TokenVerifier

    settings = get_settings()
    jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300) \
        if settings.jwt_jwks_url else None
    return TokenVerifier(jwt_keys(), TokenPolicy(issuer=settings.jwt_issuer,
                                                 audience=settings.jwt_audience,
                                                 jwks_issuer=settings.jwt_jwks_issuer,
                                                 leeway=settings.jwt_leeway_seconds), jwks,
                         revocations=token_revocations())


@cache
def tenant_gate() -> TenantGate:
    from workflows.auth.tenant_gate import TenantGate

    return TenantGate(store(), cache_seconds=get_settings().tenant_cache_seconds)


def tiers() -> dict[str, Tier]:
    from workflows.auth.usage_plans import tiers_of_setting

    return tiers_of_setting(get_settings().tenant_tiers)


def usage_plan_keys() -> UsagePlanKeys:
    """What the tenant-limits function does (the only code with API Gateway grants)."""
    from workflows.auth.usage_plans import UsagePlanKeys

    return UsagePlanKeys(aws.client("apigateway"), get_settings().api_usage_key_namespace,
                         tiers())


def tenants() -> Tenants:
    from workflows.operations.tenants import Tenants, apply_through_function

    settings = get_settings()
    return Tenants(store(), tiers(), apply_through_function(
        aws.client("lambda"), settings.tenant_limits_function_name),
        on_change=tenant_gate().forget)


def reset() -> None:
    """Forget everything built from the environment (the local runtime calls this on start)."""
    store.cache_clear()
    publish_idempotency.cache_clear()
    cursor_codec.cache_clear()
    jwt_keys.cache_clear()
    token_revocations.cache_clear()
    token_verifier.cache_clear()
    tenant_gate.cache_clear()
    if "workflows.operations.cursor" in sys.modules:
        sys.modules["workflows.operations.cursor"].reset()
    secret_box.reset()
    aws.reset_clients()
