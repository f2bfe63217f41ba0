"""The REST API of the contract: Lambda authorizer, request validation, throttling, logs, tracing.

One Lambda proxy integration serves every route; the authorizer guards all but the three
public ones. Errors API Gateway raises itself are answered as application/problem+json, like
the API's own.
"""

import json
import re

from aws_cdk import Annotations, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.api_models import draft4_schema
from stacks.constants import (
    API_STAGE_NAME,
    AUTHORIZER_CACHE_TTL,
    CONTEXT_STAGE_THROTTLE_CEILING,
    LOG_RETENTION,
)
from stacks.tenant_limits import Throttle, stage_throttle
from workflows.api.app import ROUTES as API_ROUTES
from workflows.api.routes import ApiRoute
from workflows.auth.usage_plans import Tier

# The application's route table: every route and its request body's pydantic model. A route
# added to the app is a resource and method here, its body a model, with nothing to re-type.
ROUTES = API_ROUTES


_PROBLEMS = {
    apigw.ResponseType.UNAUTHORIZED: ("401", "Unauthorized", "$context.error.messageString"),
    apigw.ResponseType.ACCESS_DENIED: ("403", "Forbidden", "$context.error.messageString"),
    apigw.ResponseType.BAD_REQUEST_BODY: ("400", "Bad Request",
                                          "\"$context.error.validationErrorString\""),
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: ("400", "Bad Request",
                                                "\"$context.error.validationErrorString\""),
    apigw.ResponseType.THROTTLED: ("429", "Too Many Requests", "$context.error.messageString"),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", "Too Many Requests",
                                        "$context.error.messageString"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "Content Too Large",
                                           "$context.error.messageString"),
    # The authorizer's usageIdentifierKey names no key of a usage plan: the tenant's key was
    # not made (yet), so it is refused rather than served unthrottled.
    apigw.ResponseType.INVALID_API_KEY: (
        "403", "Forbidden",
        '"this tenant has no API key yet: the operator creates the tenant (POST /tenants) or '
        'sets its tier again (PATCH /tenants/{id})"'),
    apigw.ResponseType.DEFAULT_5_XX: ("502", "Bad Gateway", "$context.error.messageString"),
}


_DETAIL = "__detail__"  # replaced by a VTL expression that is itself JSON


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction,
                 authorizer: lambda_.IFunction, require_tenant_api_keys: bool,
                 logs_key: kms.IKey, tiers: dict[str, Tier]) -> None:
        super().__init__(scope, construct_id)
        self.throttle = self._stage_throttle(tiers)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION,
                                         encryption_key=logs_key,
                                         removal_policy=RemovalPolicy.DESTROY)
        self.rest_api = self._build_rest_api()
        self.stage = self.rest_api.deployment_stage
        self._build_problem_responses()
        self.validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True)
        self.models = {model: self.rest_api.add_model(
            model.__name__, content_type="application/json", model_name=model.__name__,
            schema=json_schema(draft4_schema(model)))
            for model in dict.fromkeys(route.body for route in ROUTES if route.body)}
        # TOKEN: lambdas/handle_authorize_request.py reads `authorizationToken` (the
        # Authorization header) and allows the whole API, so its decision may be cached per token.
        self.authorizer = apigw.TokenAuthorizer(
            self, "Authorizer", handler=authorizer,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=AUTHORIZER_CACHE_TTL)
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        for route in ROUTES:
            self._build_route(route, integration, require_tenant_api_keys)

    def _stage_throttle(self, tiers: dict[str, Tier]) -> Throttle:
        """The ceiling: with tenants made at run time, any lower stage throttle would let a
        few busy tenants (or a flood before the authorizer) throttle all the others."""
        ceiling = Throttle.ceiling(self.node.try_get_context(CONTEXT_STAGE_THROTTLE_CEILING))
        throttle, cut = stage_throttle(tiers, ceiling)
        if cut:
            Annotations.of(self).add_warning_v2(
                "stepwire:stageThrottleCut", f"the tiers {', '.join(cut)} allow one tenant more "
                f"than the whole stage ({ceiling.rate}/s, bursts of {ceiling.burst}): raise "
                f"API Gateway's account quota and {CONTEXT_STAGE_THROTTLE_CEILING}")
        return throttle

    @staticmethod
    def is_public(method: str, path: str) -> bool:
        return any(r.public and r.method == method and r.path == path for r in ROUTES)

    def _build_rest_api(self) -> apigw.RestApi:
        return apigw.RestApi(
            self, "RestApi",
            description="Stepwire webhook notifications",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API keys, one per tenant (made at run time: stacks/tenant_limits.py), come from
            # the authorizer's usageIdentifierKey; a client's x-api-key header is ignored.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies carry customer data
                throttling_rate_limit=self.throttle.rate,
                throttling_burst_limit=self.throttle.burst,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True,
                    request_time=True, resource_path=True, response_length=True,
                    status=True, user=True),
            ),
        )

    def _build_problem_responses(self) -> None:
        for response_type, (status, title, detail) in _PROBLEMS.items():
            body = json.dumps({"type": "about:blank", "title": title, "status": int(status),
                               "detail": _DETAIL}).replace(f'"{_DETAIL}"', detail)
            self.rest_api.add_gateway_response(
                f"Problem{response_type.response_type}", type=response_type,
                status_code=status,
                templates={"application/json": body, "application/problem+json": body},
                response_headers={"Content-Type": "'application/problem+json'"})

    def _build_route(self, route: ApiRoute, integration: apigw.Integration,
                     require_tenant_api_keys: bool) -> apigw.Method:
        resource = self.rest_api.root.resource_for_path(route.path)
        options: dict = {"request_validator": self.validator}
        if route.body:
            options["request_models"] = {"application/json": self.models[route.body]}
        if route.public:
            options["authorization_type"] = apigw.AuthorizationType.NONE
        else:
            options.update(authorizer=self.authorizer,
                           authorization_type=apigw.AuthorizationType.CUSTOM,
                           api_key_required=require_tenant_api_keys)
        return resource.add_method(route.method, integration, **options)


def json_schema(schema: dict, top: bool = True) -> apigw.JsonSchema:
    """A JSON Schema (draft 4) dict as CDK's JsonSchema."""
    options: dict = {"schema": apigw.JsonSchemaVersion.DRAFT4} if top else {}
    for keyword, value in schema.items():
        if keyword == "type":
            value = ([apigw.JsonSchemaType[v.upper()] for v in value] if isinstance(value, list)
                     else apigw.JsonSchemaType[value.upper()])
        elif keyword == "properties":
            value = {name: json_schema(inner, top=False) for name, inner in value.items()}
        elif keyword in ("items", "additionalProperties") and isinstance(value, dict):
            value = json_schema(value, top=False)
        elif keyword in ("anyOf", "allOf", "oneOf"):
            value = [json_schema(inner, top=False) for inner in value]
        options[re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).lower()] = value
    return apigw.JsonSchema(**options)
