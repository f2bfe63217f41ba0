"""The HTTP API in process: moto's AWS APIs, the provisioned resources, the local gateway's
request handling (`Gateway.call`, no socket) in front of the real authorizer and API handlers.
The state machines exist but do not run (moto's default): starting one only records it."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from lambdas import handle_api_request, handle_authorize_request
from stepwire.gateway.api_gateway import Gateway
from stepwire.gateway.http_wire import GatewayResponse
from stepwire.gateway.usage_plans import RateLimit
from stepwire.host.provision import Resources, provision
from workflows import wiring
from workflows.api.app import ROUTES
from workflows.auth.tokens import issue_token, signing_key
from workflows.storage import Store

REGION = "us-east-1"
FUNCTIONS = {name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
             for name in ("IngestFunctionArn", "DeliverFunctionArn", "RecordFailureFunctionArn",
                          "HandOffFunctionArn", "ProbeEndpointFunctionArn",
                          "ReleaseParkedFunctionArn")}


@dataclass
class ApiEnv:
    gateway: Gateway
    resources: Resources

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    @property
    def store(self) -> Store:
        return wiring.store()

    def token(self, tenant: str, roles: list[str], **claims: Any) -> str:
        key = signing_key(self.client("secretsmanager").get_secret_value(
            SecretId=self.resources.jwt_secret_id))
        return issue_token(key, tenant=tenant, roles=roles, sub=f"user@{tenant}",
                           issuer="stepwire", audience="stepwire-api", **claims)

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
def emulated_aws(**settings: str) -> Iterator[Resources]:
    """moto with Stepwire's resources provisioned and the handlers' STEPWIRE_* settings in the
    environment (plus `settings`), as the local runtime sets them; all restored after."""
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    os.environ.pop("STEPWIRE_AWS_ENDPOINT_URL", None)
    with mock_aws():
        resources = provision({s: boto3.client(s, region_name=REGION) for s in
                               ("dynamodb", "sqs", "secretsmanager", "events", "stepfunctions")},
                              FUNCTIONS)
        os.environ.update({
            "STEPWIRE_TABLE_NAME": resources.table_name,
            "STEPWIRE_IDEMPOTENCY_TABLE_NAME": resources.idempotency_table_name,
            "STEPWIRE_DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "STEPWIRE_INGEST_STATE_MACHINE_ARN": resources.ingest_state_machine_arn,
            "STEPWIRE_NOTIFICATION_STATE_MACHINE_ARN": resources.notification_state_machine_arn,
            "STEPWIRE_RECOVERY_STATE_MACHINE_ARN": resources.state_machine_arns["recovery"],
            "STEPWIRE_DATA_KEY_SECRET_ID": resources.data_key_secret_id,
            "STEPWIRE_JWT_SECRET_ID": resources.jwt_secret_id, **settings,
        })
        wiring.reset()
        try:
            yield resources
        finally:
            wiring.reset()
            os.environ.clear()
            os.environ.update(saved)


@contextmanager
def api_env(rate_limit: RateLimit | None = None) -> Iterator[ApiEnv]:
    rate_limit = rate_limit or RateLimit(rate=10_000, burst=10_000)
    with emulated_aws(STEPWIRE_ALLOW_PRIVATE_TARGETS="true",
                      STEPWIRE_REQUIRE_HTTPS="false") as resources:
        gateway = Gateway(handle_api_request.lambda_handler,
                          handle_authorize_request.lambda_handler, ROUTES, rate_limit=rate_limit)
        yield ApiEnv(gateway=gateway, resources=resources)
