"""Which AWS API calls each Lambda handler makes while the tiers run, by resource kind.

Installed for the whole test session (tests/conftest.py): every `lambdas/*` handler runs with
its module name in a context variable, and every botocore call made meanwhile is recorded as
(handler module, IAM action, resource kind). The infrastructure tier then checks that the
synthesized role of that function allows exactly that (tests/infrastructure/grants/test_grants.py).
Calls made by the tests themselves, outside a handler, are not recorded.
"""

import contextvars
import functools
import importlib
import pkgutil
import re
from typing import Any

import botocore.client

import lambdas

_current = contextvars.ContextVar[str | None]("stepwire_current_handler", default=None)
CALLS: set[tuple[str, str, str]] = set()

# boto3 operation → IAM action, where the two names differ.
_IAM_ACTION = {("lambda", "Invoke"): "lambda:InvokeFunction",
               # A batch of messages is authorized as sending each of them.
               ("sqs", "SendMessageBatch"): "sqs:SendMessage"}
_IAM_PREFIX = {"stepfunctions": "states"}


def resource_kind(service: str, params: dict[str, Any]) -> str:
    """The kind of resource a call touches, named as tests/infrastructure names the template's."""
    if service == "dynamodb":
        if "RequestItems" in params:
            return "table"
        if str(params.get("TableName", "")).endswith("-idempotency"):
            return "idempotency-table"
        return "table-index" if params.get("IndexName") else "table"
    if service == "sqs":
        url = params.get("QueueUrl", "")
        if url.endswith("-ingress"):
            return "ingress-queue"
        return "ingress-dead-letter-queue" if url.endswith("-ingress-dead-letters") \
            else "dead-letter-queue"
    if service == "secretsmanager":
        secret = params.get("SecretId", "")
        # A name, or an ARN that ends in the name and Secrets Manager's 6-character suffix.
        found = re.search(r"(jwt-signing-key|data-key)(-\w{6})?$", secret)
        return f"{found.group(1).replace('-signing-key', '')}-secret" if found else secret
    if service == "stepfunctions":
        arn = params.get("stateMachineArn") or params.get("executionArn") or ""
        kind = "machine" if ":stateMachine:" in arn else "executions"
        # <prefix>-<ASL file stem>: the stem may hold a dash (long-tail).
        return f"{arn.split(':')[6].split('-', 1)[-1]}-{kind}"
    if service == "lambda":
        return f"function:{params.get('FunctionName', '')}"
    return service


def _apigateway_grant(service_model: Any, operation: str) -> tuple[str, str]:
    """API Gateway's management calls are authorized by HTTP method on the resource path:
    apigateway:POST on /usageplans/*/keys (path parameters as IAM's wildcard)."""
    http = service_model.operation_model(operation).http
    path = re.sub(r"\{[^}]+\}", "*", http["requestUri"].split("?")[0])
    return f"apigateway:{http['method']}", f"apigateway:{path}"


# A DynamoDB transaction is no IAM action: each of its parts is authorized as its own.
_TRANSACT_PARTS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem",
                   "Update": "UpdateItem", "Delete": "DeleteItem"}


def _authorized_parts(service: str, operation: str,
                      params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if (service, operation) != ("dynamodb", "TransactWriteItems"):
        return [(operation, params)]
    return [(_TRANSACT_PARTS[kind], part) for item in params.get("TransactItems", [])
            for kind, part in item.items()]


def _record(make_api_call):
    @functools.wraps(make_api_call)
    def recorded(self, operation_name: str, api_params: dict[str, Any]):
        handler = _current.get()
        if handler is not None:
            service = self.meta.service_model.service_name
            for operation, params in _authorized_parts(service, operation_name, api_params):
                action = _IAM_ACTION.get((service, operation)) or \
                    f"{_IAM_PREFIX.get(service, service)}:{operation}"
                kind = resource_kind(service, params)
                if service == "apigateway":
                    action, kind = _apigateway_grant(self.meta.service_model, operation)
                CALLS.add((handler, action, kind))
        return make_api_call(self, operation_name, api_params)

    return recorded


def _attributed(module: str, handler):
    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        token = _current.set(module)
        try:
            return handler(event, context)
        finally:
            _current.reset(token)

    return run


def install() -> None:
    """Record from now on: before the runtime or any test captures a handler."""
    if getattr(botocore.client.BaseClient._make_api_call, "stepwire_recorder", False):
        return
    recorder = _record(botocore.client.BaseClient._make_api_call)
    recorder.stepwire_recorder = True
    botocore.client.BaseClient._make_api_call = recorder
    for info in pkgutil.iter_modules(lambdas.__path__):
        module = importlib.import_module(f"lambdas.{info.name}")
        if hasattr(module, "lambda_handler"):
            module.lambda_handler = _attributed(info.name, module.lambda_handler)
