"""Each component of the design (docs/architecture.md) is in the template, with its key
properties."""

import json
from importlib import metadata

import pytest

from stacks.api import ROUTES
from stacks.api_models import draft4_schema
from stacks.constants import EVENT_BUS_NAME
from stacks.functions import ALL_FUNCTIONS
from workflows.api.public_routes import openapi_schema
from workflows.kernel.settings import Settings
from workflows.storage import table

pytestmark = pytest.mark.infrastructure

FOURTEEN_DAYS = 14 * 24 * 3600


def ref_id(value: dict) -> str:
    return value.get("Ref") or value["Fn::GetAtt"][0]


def _tables(synthesized) -> dict[str, dict]:
    """The tables by partition key name: `pk` (everything) and `id` (publish idempotency)."""
    return {t["Properties"]["KeySchema"][0]["AttributeName"]: t["Properties"]
            for t in synthesized.resources("AWS::DynamoDB::Table").values()}


def test_idempotency_table_is_powertools_layout_with_ttl(synthesized):
    tables = _tables(synthesized)
    assert set(tables) == {table.PARTITION_KEY, table.IDEMPOTENCY_KEY}
    properties = tables[table.IDEMPOTENCY_KEY]
    assert properties["KeySchema"] == table.create_idempotency_table_request("x")["KeySchema"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": table.IDEMPOTENCY_TTL_ATTRIBUTE, "Enabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True


def test_table_is_built_from_the_one_key_schema(synthesized):
    properties = _tables(synthesized)[table.PARTITION_KEY]
    request = table.create_table_request("any")
    assert properties["KeySchema"] == request["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
        sorted(request["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    assert [(i["IndexName"], i["KeySchema"], i["Projection"])
            for i in properties["GlobalSecondaryIndexes"]] == \
        [(i["IndexName"], i["KeySchema"], i["Projection"])
         for i in request["GlobalSecondaryIndexes"]]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": table.TTL_ATTRIBUTE, "Enabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is True


def test_queues_are_encrypted_https_only_and_dead_letter_queues_keep_14_days(synthesized):
    queues = synthesized.resources("AWS::SQS::Queue")
    assert len(queues) == 3
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        if not queue_id.startswith("IngressQueue"):  # the ingress queue has a DLQ of its own
            assert queue["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS
    denied_insecure = {
        ref_id(policy["Properties"]["Queues"][0])
        for policy in synthesized.resources("AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}}
    assert denied_insecure == set(queues)


def test_state_machines_are_logged_at_all_with_data_kept_a_month_and_traced(synthesized):
    machines = synthesized.resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == 4
    groups = synthesized.resources("AWS::Logs::LogGroup")
    for machine in machines.values():
        properties = machine["Properties"]
        # Express executions have no history in AWS: the log group is their trace.
        [destination] = properties["LoggingConfiguration"]["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert groups[group]["Properties"]["RetentionInDays"] == 30
        assert properties["LoggingConfiguration"]["Level"] == "ALL"
        assert properties["LoggingConfiguration"]["IncludeExecutionData"] is True
        assert properties["TracingConfiguration"] == {"Enabled": True}


def test_every_handler_is_a_function_with_runtime_layer_tracing_and_environment(synthesized):
    functions = synthesized.resources("AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    assert set(by_handler) == {spec.handler for spec in ALL_FUNCTIONS}
    assert {"lambdas.handle_api_request.lambda_handler",
            "lambdas.handle_authorize_request.lambda_handler"} <= set(by_handler)
    required = {f"STEPWIRE_{name.upper()}" for name, field in Settings.model_fields.items()
                if field.is_required()}
    for handler, properties in by_handler.items():
        assert properties["Runtime"] == "python3.12", handler
        assert properties["Architectures"] == ["x86_64"], handler
        assert properties["TracingConfig"] == {"Mode": "Active"}, handler
        [layer] = properties["Layers"]
        assert synthesized.template["Parameters"][layer["Ref"]]["Default"] == \
            f"/aws/service/powertools/python/x86_64/python3.12/{metadata.version('aws-lambda-powertools')}"
        variables = properties["Environment"]["Variables"]
        assert required <= set(variables), handler
        assert variables["STEPWIRE_REQUIRE_HTTPS"] == "true"
        assert variables["STEPWIRE_ALLOW_PRIVATE_TARGETS"] == "false"
        assert "STEPWIRE_AWS_ENDPOINT_URL" not in variables


def test_the_environment_names_only_settings_fields(synthesized):
    prefix = Settings.model_config["env_prefix"]
    names = {f"{prefix}{name.upper()}" for name in Settings.model_fields}
    for function in synthesized.resources("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {v for v in variables if v.startswith(prefix)} <= names


def test_api_has_every_route_of_the_contract_behind_the_authorizer(synthesized):
    resources = synthesized.resources("AWS::ApiGateway::Resource")
    paths = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in resources:
            return ""
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        parent_path = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{parent_path}/{properties['PathPart']}"

    for logical_id in resources:
        paths[logical_id] = path_of(logical_id)
    methods = {(m["Properties"]["HttpMethod"], paths[m["Properties"]["ResourceId"]["Ref"]]):
               m["Properties"]
               for m in synthesized.resources("AWS::ApiGateway::Method").values()}
    assert set(methods) == {(route.method, route.path) for route in ROUTES}
    for route in ROUTES:
        method = methods[(route.method, route.path)]
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "RequestValidatorId" in method
        if route.public:
            assert method["AuthorizationType"] == "NONE", route
        else:
            assert method["AuthorizationType"] == "CUSTOM", route
            assert "AuthorizerId" in method
        if route.body:
            [model] = method["RequestModels"].values()
            schema = next(m["Properties"]["Schema"] for logical_id, m in
                          synthesized.resources("AWS::ApiGateway::Model").items()
                          if logical_id == model["Ref"])
            assert schema == {"$schema": "http://json-schema.org/draft-04/schema#",
                              **draft4_schema(route.body)}, route
        else:
            assert "RequestModels" not in method, route


def test_every_operation_the_router_serves_is_in_the_route_table():
    # A route registered with the router but not through the table would be neither
    # permission-checked nor deployed: the OpenAPI document lists what the router serves.
    documented = {(method.upper(), path) for path, operations in openapi_schema()["paths"].items()
                  for method in operations}
    table = {(route.method, route.path) for route in ROUTES}
    assert documented <= table
    assert table - documented == {("GET", "/openapi.json"), ("GET", "/docs"),
                                  ("GET", "/console"), ("GET", "/console/{asset}")}


def test_api_authorizer_reads_the_authorization_header(synthesized):
    authorizer = synthesized.only("AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "TOKEN"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"


def test_api_stage_logs_traces_and_throttles(synthesized):
    stage = synthesized.only("AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    settings = stage["MethodSettings"][0]
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    validator = synthesized.only("AWS::ApiGateway::RequestValidator")
    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True


def test_every_tenant_route_needs_the_tenants_key_from_the_authorizer(synthesized):
    assert synthesized.only("AWS::ApiGateway::RestApi")["ApiKeySourceType"] == "AUTHORIZER"
    methods = [m["Properties"] for m in synthesized.resources("AWS::ApiGateway::Method").values()
               if m["Properties"]["HttpMethod"] != "OPTIONS"]
    guarded = [m for m in methods if m["AuthorizationType"] == "CUSTOM"]
    assert len(guarded) == len([r for r in ROUTES if not r.public])
    assert all(m["ApiKeyRequired"] is True for m in guarded)
    assert not any(m.get("ApiKeyRequired") for m in methods if m["AuthorizationType"] == "NONE")


def test_gateway_errors_are_problem_json(synthesized):
    responses = synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    types = {r["Properties"]["ResponseType"] for r in responses}
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "BAD_REQUEST_BODY", "THROTTLED"} <= types
    for response in responses:
        assert response["Properties"]["ResponseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/problem+json'"}


def test_waf_has_managed_rule_groups_on_the_stage(synthesized):
    # (its rate rules and the stage's throttle: tests/infrastructure/api/test_waf_and_throttle.py)
    acl = synthesized.only("AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    groups = {r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Rules"]
              if "ManagedRuleGroupStatement" in r["Statement"]}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList"} <= groups
    association = synthesized.only("AWS::WAFv2::WebACLAssociation")
    assert "Stage" in json.dumps(association["ResourceArn"])


def test_event_bus_rule_puts_events_on_the_ingress_queue_and_its_consumer_takes_them(
        synthesized):
    """Durable from the bus on: rule → queue (retries, a DLQ) → consumer (partial batch
    answers); a message the consumer cannot take goes to the ingress DLQ after a few tries."""
    assert synthesized.only("AWS::Events::EventBus")["Name"] == EVENT_BUS_NAME
    [rule] = [rule["Properties"] for rule in synthesized.resources("AWS::Events::Rule").values()
              if "EventPattern" in rule["Properties"]]  # not the reconciler's schedule
    target = rule["Targets"][0]
    queues = synthesized.resources("AWS::SQS::Queue")
    [ingress] = [k for k in queues if k.startswith("IngressQueue")]
    assert target["Arn"] == {"Fn::GetAtt": [ingress, "Arn"]}
    assert "Input" not in target and "InputPath" not in target  # the whole event
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert "Arn" in target["DeadLetterConfig"]
    redrive = queues[ingress]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] >= 5
    assert ref_id(redrive["deadLetterTargetArn"]) == ref_id(target["DeadLetterConfig"]["Arn"])
    mapping = synthesized.only("AWS::Lambda::EventSourceMapping")
    assert ref_id(mapping["EventSourceArn"]) == ingress
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    consumer = synthesized.resources("AWS::Lambda::Function")[ref_id(mapping["FunctionName"])]
    assert consumer["Properties"]["Handler"] == "lambdas.handle_ingress_event.lambda_handler"
    assert queues[ingress]["Properties"]["VisibilityTimeout"] >= \
        6 * consumer["Properties"]["Timeout"]


def test_jwt_key_rotates_and_both_secrets_are_seeded(synthesized):
    secrets = synthesized.resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    schedule = synthesized.only("AWS::SecretsManager::RotationSchedule")
    rotator = schedule["RotationLambdaARN"]["Fn::GetAtt"][0]
    functions = synthesized.resources("AWS::Lambda::Function")
    assert functions[rotator]["Properties"]["Handler"] == \
        "lambdas.handle_rotate_jwt_key.lambda_handler"
    assert schedule["RotationRules"]["ScheduleExpression"].startswith("rate(")
    seed = synthesized.only("Custom::StepwireSecretKeys")
    assert {ref_id(s) for s in seed["SecretIds"]} == set(secrets)


def test_alarms_notify_the_topic_and_cover_every_signal(synthesized):
    alarms = [a["Properties"] for a in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    topic = next(iter(synthesized.resources("AWS::SNS::Topic")))
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in alarms)
    metrics = {(a.get("Namespace"), a.get("MetricName")) for a in alarms}
    assert {("AWS/States", "ExecutionsFailed"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
            ("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "Latency")} <= metrics
    latency = next(a for a in alarms if a.get("MetricName") == "Latency")
    assert latency["ExtendedStatistic"] == "p99"
    assert "KmsMasterKeyId" in synthesized.only("AWS::SNS::Topic")


def test_dashboard_shows_success_rate_and_end_to_end_latency(synthesized):
    body = json.dumps(synthesized.only("AWS::CloudWatch::Dashboard")["DashboardBody"])
    assert "succeeded / (succeeded + failed)" in body
    assert "ExecutionTime" in body


def test_outputs_name_what_an_operator_needs(synthesized):
    outputs = synthesized.template["Outputs"]
    assert any(name.startswith("ApiRestApiEndpoint") for name in outputs)
    assert {"ApiUrl", "JwtSecretArn", "JwtIssuer", "JwtAudience", "EventBusName",
            "DeadLetterQueueUrl", "AlarmTopicArn", "TableName"} <= set(outputs)
    # What `stepwire token --stack` reads: the secret, and the claims the authorizer checks
    # (the functions' environment leaves them at the Settings defaults)
    [jwt_secret] = [logical_id for logical_id in
                    synthesized.resources("AWS::SecretsManager::Secret")
                    if "JwtSigningKey" in logical_id]
    assert outputs["JwtSecretArn"]["Value"] == {"Ref": jwt_secret}
    for function in synthesized.resources("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not {"STEPWIRE_JWT_ISSUER", "STEPWIRE_JWT_AUDIENCE"} & set(variables)
    assert outputs["JwtIssuer"]["Value"] == Settings.model_fields["jwt_issuer"].default
    assert outputs["JwtAudience"]["Value"] == Settings.model_fields["jwt_audience"].default
    assert outputs["ApiUrl"]["Value"] == outputs[next(
        name for name in outputs if name.startswith("ApiRestApiEndpoint"))]["Value"]


def test_every_log_group_is_encrypted_with_the_logs_key(synthesized):
    # Workflows log execution data (customers' events); functions and the API can log it too.
    groups = synthesized.resources("AWS::Logs::LogGroup")
    keys = synthesized.resources("AWS::KMS::Key")
    logs_key = next(k for k in keys if k.startswith("LogEncryption"))
    assert keys[logs_key]["Properties"]["EnableKeyRotation"] is True
    assert len(groups) >= 10
    for logical_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [logs_key, "Arn"]}, logical_id
    logs_statements = [s for s in keys[logs_key]["Properties"]["KeyPolicy"]["Statement"]
                       if "logs." in json.dumps(s.get("Principal"))]
    assert logs_statements and all("kms:EncryptionContext:aws:logs:arn" in json.dumps(s)
                                   for s in logs_statements)
