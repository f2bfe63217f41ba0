"""Every Lambda of lambdas/: one code asset, the Powertools layer, the STEPWIRE_* environment.

Each function has its own role with exactly the statements it needs; no managed policies.
Reserved concurrency splits the account's concurrent executions so that deliveries (capped)
cannot starve the API, the authorizer or the workflows' bookkeeping (each guaranteed its
share); `stepwire:reservedConcurrency` changes the numbers (docs/deploy.md).
"""

import json
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from pydantic import ValidationError

from stacks.bundling import lambda_code, pinned_version
from stacks.constants import (
    CONTEXT_ACCOUNT_CONCURRENCY,
    CONTEXT_RESERVED_CONCURRENCY,
    LOG_RETENTION,
    POWERTOOLS_LAYER_PARAMETER,
    PYTHON_VERSION,
    SERVICE_NAME,
)
from workflows.kernel.settings import Settings


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    module: str
    description: str
    timeout: Duration
    memory_size: int = 512
    # Concurrent executions reserved for it (a guarantee and a cap); None: the unreserved pool.
    reserved_concurrency: int | None = None

    @property
    def handler(self) -> str:
        return f"lambdas.{self.module}.lambda_handler"


INGEST = FunctionSpec("Ingest", "handle_ingest_event",
                      "Ingest workflow: one page of an event's fan-out",
                      Duration.seconds(30), reserved_concurrency=25)
# The EventBridge ingress queue's consumer: its event source mapping runs at most
# INGRESS_POLLERS batches at once (stacks/ingress.py), within this reservation.
INGRESS = FunctionSpec("Ingress", "handle_ingress_event",
                       "EventBridge ingress: store each event, fan out its first page",
                       Duration.seconds(30), reserved_concurrency=25)
# The webhook POST takes at most the DNS bound (the connect timeout, 5 s) and the whole-request
# deadline (15 s): 30 s leaves 10 s for the bookkeeping around it (workflows/delivery/).
# 256 MB: the function waits on the receiver (each 100 ms of it costs $0.42 per million
# notifications at 256 MB, $0.83 at 512); its own CPU work is a few milliseconds.
DELIVER = FunctionSpec("Deliver", "handle_deliver_notification",
                       "Notification workflow: one signed webhook POST",
                       Duration.seconds(30), memory_size=256, reserved_concurrency=650)
RECORD_FAILURE = FunctionSpec("RecordFailure", "handle_record_failure",
                              "Notification workflow: mark failed, compose the dead letter",
                              Duration.seconds(30), reserved_concurrency=20)
HAND_OFF = FunctionSpec("HandOff", "handle_hand_off",
                        "Notification workflow: to the long tail, or parked behind a breaker",
                        Duration.seconds(30), memory_size=256, reserved_concurrency=20)
PROBE_ENDPOINT = FunctionSpec("ProbeEndpoint", "handle_probe_endpoint",
                              "Recovery workflow: probe an open endpoint with a parked delivery",
                              Duration.seconds(30), reserved_concurrency=20)
RELEASE_PARKED = FunctionSpec("ReleaseParked", "handle_release_parked",
                              "Recovery workflow: restart parked notifications at the rate",
                              Duration.seconds(30), memory_size=256, reserved_concurrency=20)
API = FunctionSpec("Api", "handle_api_request", "The REST API (every route)",
                   Duration.seconds(29), memory_size=1024, reserved_concurrency=100)
# Called once per token per 5 minutes (API Gateway's cache), about 20 ms with the tenant's
# status cached 30 s: 15 at once serve 750 new tokens a second.
AUTHORIZER = FunctionSpec("Authorizer", "handle_authorize_request",
                          "API Gateway authorizer: HS256 JWT, key rotation, revocations",
                          Duration.seconds(10), reserved_concurrency=15)
# Invoked by the API when an operator creates a tenant or changes its tier: a few API Gateway
# calls whose control plane allows a few requests a second, so a few at once are enough.
TENANT_LIMITS = FunctionSpec("TenantLimits", "handle_apply_tenant_limits",
                                   "Puts a tenant's API key in its tier's usage plan",
                                   Duration.seconds(30), memory_size=256, reserved_concurrency=5)
ROTATE_JWT_KEY = FunctionSpec("RotateJwtKey", "handle_rotate_jwt_key",
                              "Secrets Manager rotation of the JWT signing key",
                              Duration.seconds(60), memory_size=256)
SEED_SECRET_KEYS = FunctionSpec("SeedSecretKeys", "handle_seed_secret_keys",
                                "Custom resource: first random keys of the secrets",
                                Duration.seconds(60), memory_size=256)
# On its schedule (stacks/reconciler.py): no reservation, one run at a time by its own lease.
RECONCILE = FunctionSpec("Reconcile", "handle_reconcile",
                         "Every 5 minutes: finishes what dead executions left behind",
                         Duration.minutes(5))
ALL_FUNCTIONS = (INGEST, INGRESS, DELIVER, RECORD_FAILURE, HAND_OFF, PROBE_ENDPOINT,
                 RELEASE_PARKED, API, AUTHORIZER, TENANT_LIMITS, ROTATE_JWT_KEY,
                 SEED_SECRET_KEYS, RECONCILE)


# AWS keeps this many of an account's concurrent executions unreserved (a reservation that
# would leave fewer is refused); the default account quota is 1,000 per Region.
MIN_UNRESERVED_CONCURRENCY = 100
DEFAULT_ACCOUNT_CONCURRENCY = 1000


def reserved_concurrency(specs: tuple[FunctionSpec, ...], overrides: dict[str, object],
                         account_concurrency: int) -> dict[str, int | None]:
    """Function name → its reserved concurrency: the specs' defaults, `overrides` by function
    name (null or 0: none reserved), checked to leave the account its unreserved 100."""
    names = {spec.name for spec in specs}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"{CONTEXT_RESERVED_CONCURRENCY}: unknown functions "
                         f"{', '.join(unknown)} (known: {', '.join(sorted(names))})")
    reserved: dict[str, int | None] = {}
    for spec in specs:
        value = overrides.get(spec.name, spec.reserved_concurrency)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise ValueError(f"{CONTEXT_RESERVED_CONCURRENCY}: {spec.name} must be a whole "
                             f"number ≥ 0 or null, not {value!r}")
        reserved[spec.name] = value or None
    total = sum(value or 0 for value in reserved.values())
    if total > account_concurrency - MIN_UNRESERVED_CONCURRENCY:
        raise ValueError(
            f"{CONTEXT_RESERVED_CONCURRENCY}: {total} reserved of the account's "
            f"{account_concurrency} ({CONTEXT_ACCOUNT_CONCURRENCY}) leaves fewer than the "
            f"{MIN_UNRESERVED_CONCURRENCY} unreserved that AWS requires")
    return reserved


def stepwire_environment(values: dict[str, object]) -> dict[str, str]:
    """STEPWIRE_* variables named after the `Settings` fields: a renamed field fails synth, and
    so does a value the handlers would refuse (from the context: tiers, endpoint health, the
    console's frame-ancestors)."""
    fields = Settings.model_fields
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KeyError(f"not fields of workflows.kernel.settings.Settings: {', '.join(unknown)}")
    missing = sorted(name for name, field in fields.items()
                     if field.is_required() and name not in values)
    if missing:
        raise KeyError(f"Settings fields without a value: {', '.join(missing)}")
    try:
        Settings.model_validate(values)  # the values alone, not this process's environment
    except ValidationError as exc:
        raise ValueError(f"a setting the functions would refuse: {exc}") from None
    prefix = Settings.model_config["env_prefix"]
    return {f"{prefix}{name.upper()}": _env_value(value) for name, value in values.items()}


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Functions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *,
                 environment: dict[str, str], logs_key: kms.IKey,
                 specs: tuple[FunctionSpec, ...] = ALL_FUNCTIONS) -> None:
        super().__init__(scope, construct_id)
        self._logs_key = logs_key
        code = lambda_code()
        overrides = self.node.try_get_context(CONTEXT_RESERVED_CONCURRENCY) or {}
        overrides = json.loads(overrides) if isinstance(overrides, str) else overrides
        # A function this stack leaves out (tenant-limits with keys off) takes no share.
        left_out = {spec.name for spec in ALL_FUNCTIONS} - {spec.name for spec in specs}
        self.reserved = reserved_concurrency(
            specs, {name: value for name, value in overrides.items() if name not in left_out},
            int(self.node.try_get_context(CONTEXT_ACCOUNT_CONCURRENCY)
                or DEFAULT_ACCOUNT_CONCURRENCY))
        # The layer of exactly the Powertools version pinned in pyproject.toml (and installed
        # for the tests): its ARN is resolved at deploy time from Powertools' SSM parameter.
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", ssm.StringParameter.value_for_string_parameter(
                self, POWERTOOLS_LAYER_PARAMETER.format(
                    python=PYTHON_VERSION, version=pinned_version("aws-lambda-powertools"))))
        self.by_name: dict[str, lambda_.Function] = {
            spec.name: self._build_function(spec, code, layer, environment)
            for spec in specs}

    def __getitem__(self, spec: FunctionSpec) -> lambda_.Function:
        return self.by_name[spec.name]

    def _build_function(self, spec: FunctionSpec, code: lambda_.Code,
                        layer: lambda_.ILayerVersion,
                        environment: dict[str, str]) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{spec.name}Logs",
                                  retention=LOG_RETENTION, encryption_key=self._logs_key,
                                  removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, f"{spec.name}Role",
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"Stepwire {spec.name} function")
        log_group.grant_write(role)
        return lambda_.Function(
            self, spec.name,
            description=f"Stepwire: {spec.description}",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            code=code,
            handler=spec.handler,
            layers=[layer],
            memory_size=spec.memory_size,
            timeout=spec.timeout,
            reserved_concurrent_executions=self.reserved[spec.name],
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": SERVICE_NAME},
        )
