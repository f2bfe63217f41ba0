"""The HTTP API in process: moto's AWS APIs, the provisioned resources, the local gateway's
request handling (`Gateway.call`, no socket) in front of the real authorizer and API handlers.
The state machines exist but do not run (moto's default): starting one only records it. The
tenant-limits function runs in process, so tenants' API keys go into moto's usage plans, which
the gateway throttles with (tiers generous enough that tests measure the API, unless a test
gives its own)."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from lambdas import handle_api_request, handle_apply_tenant_limits, handle_authorize_request
from stepwire.gateway.api_gateway import Gateway
from stepwire.gateway.http_wire import GatewayResponse
from stepwire.gateway.usage_plans import UsagePlanLimits
from stepwire.host.lambda_host import LambdaHost
from stepwire.host.provision import TENANT_LIMITS_FUNCTION, Resources, provision
from workflows import wiring
from workflows.api.app import ROUTES
from workflows.auth.tokens import SigningKey, issue_operator_token, issue_token, signing_key
from workflows.auth.usage_plans import Tier, UsagePlanKeys, tiers_to_json
from workflows.operations.tenants import Tenants
from workflows.storage import Store

REGION = "us-east-1"
FUNCTIONS = {name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
             for name in ("IngestFunctionArn", "DeliverFunctionArn", "RecordFailureFunctionArn",
                          "HandOffFunctionArn", "ProbeEndpointFunctionArn",
                          "ReleaseParkedFunctionArn")}
# The tiers' names as deployed, their limits far above what a test sends.
GENEROUS_TIERS = {"standard": Tier(rate=10_000, burst=10_000, monthly_quota=1_000_000),
                  "large": Tier(rate=20_000, burst=20_000)}


@dataclass
class ApiEnv:
    gateway: Gateway
    resources: Resources

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    @property
    def store(self) -> Store:
        return wiring.store()

    def token(self, tenant: str, roles: list[str], *, register: bool = True,
              **claims: Any) -> str:
        """A token of `tenant`, registered first (as `stepwire token --tenant` does) unless
        `register` is False."""
        if register:
            self.register(tenant)
        return issue_token(self._key(), tenant=tenant, roles=roles, sub=f"user@{tenant}",
                           issuer="stepwire", audience="stepwire-api", **claims)

    def register(self, tenant: str) -> None:
        """`tenant` active in the default tier, its key put in that tier's plan in this
        deployment's namespace (whatever a test sets the authorizer's to)."""
        keys = UsagePlanKeys(self.client("apigateway"), self.resources.usage_key_namespace,
                             wiring.tiers())
        Tenants(self.store, wiring.tiers(), keys.apply,
                on_change=wiring.tenant_gate().forget).ensure(tenant)

    def operator_token(self, **claims: Any) -> str:
        return issue_operator_token(self._key(), sub="operator@platform", issuer="stepwire",
                                    audience="stepwire-api", **claims)

    def _key(self) -> SigningKey:
        return signing_key(self.client("secretsmanager").get_secret_value(
            SecretId=self.resources.jwt_secret_id))

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None
             ) -> GatewayResponse:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            raw = json.dumps(body).encode()
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
        return self.gateway.call(method, path, headers, raw)


def json_of(response: GatewayResponse) -> Any:
    return json.loads(response.body)


@contextmanager
def emulated_aws(tiers: dict[str, Tier] | None = None, **settings: str) -> Iterator[Resources]:
    """moto with Stepwire's resources provisioned and the handlers' STEPWIRE_* settings in the
    environment (plus `settings`), as the local runtime sets them; all restored after."""
    tiers = tiers or GENEROUS_TIERS
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    os.environ.pop("STEPWIRE_AWS_ENDPOINT_URL", None)
    lambdas = LambdaHost("123456789012", REGION)
    lambdas.register(TENANT_LIMITS_FUNCTION, handle_apply_tenant_limits.lambda_handler)
    with mock_aws():
        lambdas.activate()
        resources = provision({s: boto3.client(s, region_name=REGION) for s in
                               ("dynamodb", "sqs", "secretsmanager", "events", "stepfunctions",
                                "apigateway")}, FUNCTIONS, tiers=tiers)
        os.environ.update({
            "STEPWIRE_TABLE_NAME": resources.table_name,
            "STEPWIRE_IDEMPOTENCY_TABLE_NAME": resources.idempotency_table_name,
            "STEPWIRE_DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "STEPWIRE_INGEST_STATE_MACHINE_ARN": resources.ingest_state_machine_arn,
            "STEPWIRE_NOTIFICATION_STATE_MACHINE_ARN": resources.notification_state_machine_arn,
            "STEPWIRE_RECOVERY_STATE_MACHINE_ARN": resources.state_machine_arns["recovery"],
            "STEPWIRE_DATA_KEY_SECRET_ID": resources.data_key_secret_id,
            "STEPWIRE_JWT_SECRET_ID": resources.jwt_secret_id,
            "STEPWIRE_TENANT_LIMITS_FUNCTION_NAME": TENANT_LIMITS_FUNCTION,
            "STEPWIRE_TENANT_TIERS": tiers_to_json(tiers),
            "STEPWIRE_API_USAGE_KEY_NAMESPACE": resources.usage_key_namespace, **settings,
        })
        wiring.reset()
        try:
            yield resources
        finally:
            lambdas.deactivate()
            wiring.reset()
            os.environ.clear()
            os.environ.update(saved)


def api_gateway(**options: Any) -> Gateway:
    """The local gateway throttling with the usage plans in moto (`options`: Gateway's)."""
    return Gateway(handle_api_request.lambda_handler, handle_authorize_request.lambda_handler,
                   ROUTES, **{"usage_plans": UsagePlanLimits(boto3.client(
                       "apigateway", region_name=REGION)), **options})


@contextmanager
def api_env(tiers: dict[str, Tier] | None = None) -> Iterator[ApiEnv]:
    with emulated_aws(tiers, STEPWIRE_ALLOW_PRIVATE_TARGETS="true",
                      STEPWIRE_REQUIRE_HTTPS="false") as resources:
        yield ApiEnv(gateway=api_gateway(), resources=resources)
