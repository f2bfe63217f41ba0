"""Every Lambda of lambdas/: one code asset, the Powertools layer, the STEPWIRE_* environment.

Each function has its own role with exactly the statements it needs; no managed policies.
"""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.bundling import lambda_code, pinned_version
from stacks.constants import (
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

    @property
    def handler(self) -> str:
        return f"lambdas.{self.module}.lambda_handler"


INGEST = FunctionSpec("Ingest", "handle_ingest_event",
                      "Ingest workflow: persist the event once, plan its notifications",
                      Duration.seconds(30))
DELIVER = FunctionSpec("Deliver", "handle_deliver_notification",
                       "Notification workflow: one signed webhook POST",
                       Duration.seconds(30))
RECORD_FAILURE = FunctionSpec("RecordFailure", "handle_record_failure",
                              "Notification workflow: mark failed, compose the dead letter",
                              Duration.seconds(30))
HAND_OFF = FunctionSpec("HandOff", "handle_hand_off",
                        "Notification workflow: to the long tail, or parked behind a breaker",
                        Duration.seconds(30), memory_size=256)
PROBE_ENDPOINT = FunctionSpec("ProbeEndpoint", "handle_probe_endpoint",
                              "Recovery workflow: probe an open endpoint with a parked delivery",
                              Duration.seconds(30))
RELEASE_PARKED = FunctionSpec("ReleaseParked", "handle_release_parked",
                              "Recovery workflow: restart parked notifications at the rate",
                              Duration.seconds(30), memory_size=256)
API = FunctionSpec("Api", "handle_api_request", "The REST API (every route)",
                   Duration.seconds(29), memory_size=1024)
AUTHORIZER = FunctionSpec("Authorizer", "handle_authorize_request",
                          "API Gateway authorizer: HS256 JWT, key rotation, revocations",
                          Duration.seconds(10))
ROTATE_JWT_KEY = FunctionSpec("RotateJwtKey", "handle_rotate_jwt_key",
                              "Secrets Manager rotation of the JWT signing key",
                              Duration.seconds(60), memory_size=256)
SEED_SECRET_KEYS = FunctionSpec("SeedSecretKeys", "handle_seed_secret_keys",
                                "Custom resource: first random keys of the secrets",
                                Duration.seconds(60), memory_size=256)
ALL_FUNCTIONS = (INGEST, DELIVER, RECORD_FAILURE, HAND_OFF, PROBE_ENDPOINT, RELEASE_PARKED, API,
                 AUTHORIZER, ROTATE_JWT_KEY, SEED_SECRET_KEYS)


def stepwire_environment(values: dict[str, object]) -> dict[str, str]:
    """STEPWIRE_* variables named after the `Settings` fields: a renamed field fails synth."""
    fields = Settings.model_fields
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KeyError(f"not fields of workflows.kernel.settings.Settings: {', '.join(unknown)}")
    missing = sorted(name for name, field in fields.items()
                     if field.is_required() and name not in values)
    if missing:
        raise KeyError(f"Settings fields without a value: {', '.join(missing)}")
    prefix = Settings.model_config["env_prefix"]
    return {f"{prefix}{name.upper()}": _env_value(value) for name, value in values.items()}


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Functions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *,
                 environment: dict[str, str], logs_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._logs_key = logs_key
        code = lambda_code()
        # The layer of exactly the Powertools version pinned in pyproject.toml (and installed
        # for the tests): its ARN is resolved at deploy time from Powertools' SSM parameter.
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", ssm.StringParameter.value_for_string_parameter(
                self, POWERTOOLS_LAYER_PARAMETER.format(
                    python=PYTHON_VERSION, version=pinned_version("aws-lambda-powertools"))))
        self.by_name: dict[str, lambda_.Function] = {
            spec.name: self._build_function(spec, code, layer, environment)
            for spec in ALL_FUNCTIONS}

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
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": SERVICE_NAME},
        )
