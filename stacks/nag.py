"""cdk-nag AwsSolutions findings that are acknowledged, each on the narrowest construct, with
its reason. Everything else is fixed, not acknowledged; a new finding fails the synth."""

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

from stacks import functions as fn
from stacks.constants import RECOVERY_MACHINE

if TYPE_CHECKING:
    from stacks.stepwire_stack import StepwireStack

XRAY_ONLY = (
    "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no "
    "resource-level scope (AWS: 'All resources'); CDK adds exactly these two for Tracing.ACTIVE")
WORKFLOW_DELIVERY = (
    "Step Functions logging (level ALL) and X-Ray tracing: the log-delivery actions "
    "(logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, "
    "ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and "
    "xray:PutTraceSegments/PutTelemetryRecords/GetSamplingRules/GetSamplingTargets support no "
    "resource scope; AWS documents '*' for them")
DLQ_ITSELF = (
    "This queue is itself a dead-letter queue ({what}); a dead-letter queue behind it would "
    "only move the same messages, and the depth and oldest-message alarms watch it")
DATA_KEY_NOT_ROTATED = (
    "The data key encrypts every stored subscription signing secret "
    "(workflows/secrets/secret_box.py, AES-256-GCM); rotating it would leave them "
    "undecryptable without a re-encryption migration. It is read only by the deliver and api "
    "functions")
RUNTIME = (
    "python3.12 is a supported Lambda runtime (deprecation scheduled for 2028); the bundled "
    "binary wheels (pip --python-version 3.12) and the Powertools layer "
    "(AWSLambdaPowertoolsPythonV3-python312) are built for exactly this version, so the three "
    "move together in stacks/constants.py")
CLOUDWATCH_ROLE = (
    "API Gateway's account-level logging role, created by CDK for cloud_watch_role=True (access "
    "logs need it); AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for it")
LAMBDA_AUTHORIZER = (
    "Tokens are Stepwire's HS256 JWTs (tenant and roles claims, key rotation with the previous "
    "version kept valid), verified by the Lambda authorizer; tenants are not Cognito users")
EXECUTIONS_OF_A_MACHINE = (
    "DescribeExecution is scoped by execution ARN, and these executions are named at run time "
    "(a long tail <fast name>--tail, a recovery recovery--<tenant>--<subscription>--<id>): "
    "the narrowest scope is the executions of that one Standard machine (execution:<machine>:*)")
PUBLIC_ROUTE = (
    "GET {path} is public by the API contract (health check, OpenAPI document, Swagger UI, "
    "the console's static files, which sign in with a token they are given) and reads no "
    "tenant data")
USAGE_PLAN_KEYS = (
    "The tenant-limits function moves tenants' API keys between the tier plans "
    "(workflows/auth/usage_plans.py, USAGE_PLAN_CALLS): each plan is named by its id, and "
    "within it the key's id, made at run time for each tenant, is the wildcard. Only this "
    "function, invoked by the API for the operator's tenant routes, holds these grants")


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(
        Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason))


def acknowledge_findings(stack: "StepwireStack") -> None:
    for function in stack.functions.by_name.values():
        assert function.role is not None  # each function is built with its own role
        _ack(function.role, "IAM5[Resource::*]", XRAY_ONLY)
        _ack(function, "L1", RUNTIME)
    for machine in stack.state_machines.all:
        _ack(machine.role, "IAM5[Resource::*]", WORKFLOW_DELIVERY)
    _ack(stack.queues.dead_letter_queue, "SQS3",
         DLQ_ITSELF.format(what="failed notifications, sent by the notification workflow"))
    _ack(stack.queues.ingress_dead_letter_queue, "SQS3",
         DLQ_ITSELF.format(what="events the EventBridge ingress refused or could not take"))
    _ack(stack.secrets.data_key, "SMG4", DATA_KEY_NOT_ROTATED)
    reconciler_role = stack.reconciler.function.role
    assert reconciler_role is not None
    for described in stack.reconciler.described_machines:
        _ack(reconciler_role, "IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
             f"<AWS::AccountId>:execution:{described}:*]", EXECUTIONS_OF_A_MACHINE)
    # The Park path, the probe and the release ask whether the endpoint's recovery still runs
    # (workflows/recovery/liveness.py).
    recovery = f"{stack.stack_name}-{RECOVERY_MACHINE}"
    for spec in (fn.HAND_OFF, fn.PROBE_ENDPOINT, fn.RELEASE_PARKED):
        role = stack.functions[spec].role
        assert role is not None
        _ack(role, "IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
             f"<AWS::AccountId>:execution:{recovery}:*]", EXECUTIONS_OF_A_MACHINE)
    if fn.TENANT_LIMITS.name in stack.functions.by_name:
        assert stack.tenant_limits is not None
        policy = stack.tenant_limits_plan_keys.node.default_child
        assert policy is not None
        for plan in stack.tenant_limits.plans.values():
            plan_id = stack.get_logical_id(plan.node.default_child)  # type: ignore[arg-type]
            _ack(policy, "IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"
                 f"/usageplans/<{plan_id}>/keys/*]", USAGE_PLAN_KEYS)
    rest_api = stack.api.rest_api
    _ack(rest_api.node.find_child("CloudWatchRole"),
         "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
         "AmazonAPIGatewayPushToCloudWatchLogs]", CLOUDWATCH_ROLE)
    for method in rest_api.methods:
        path = method.resource.path
        if stack.api.is_public(method.http_method, path):
            _ack(method, "APIG4", PUBLIC_ROUTE.format(path=path))
            _ack(method, "COG4", PUBLIC_ROUTE.format(path=path))
        else:
            _ack(method, "COG4", LAMBDA_AUTHORIZER)
