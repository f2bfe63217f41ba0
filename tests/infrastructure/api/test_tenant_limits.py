"""Per-tenant API limits at run time: one usage plan per tier and the platform plan with its two
keys, no resource per tenant; the tenant-limits function may make exactly the calls of
USAGE_PLAN_CALLS, and only the API function may invoke it."""

import json

import pytest

from app import build_app
from stacks.constants import STACK_ID
from stacks.functions import API, AUTHORIZER, TENANT_LIMITS
from stacks.tenant_limits import tiers_of
from tests.infrastructure.conftest import SYNTH_CONTEXT, Synthesized
from tests.infrastructure.grants.test_permissions import as_list, identity_statements
from workflows.auth.usage_plans import (
    DEFAULT_TIERS,
    PLATFORM_TIER,
    USAGE_PLAN_CALLS,
    Tier,
    operator_usage_key,
    plan_name,
    platform_plan_name,
    refused_usage_key,
    tiers_to_json,
)

pytestmark = pytest.mark.infrastructure

UNSCOPED = ("logs:", "xray:")  # every function's own log group and tracing
# Three tiers where the session's template has the two default ones.
THREE_TIERS = {**{name: {"rate": t.rate, "burst": t.burst, "monthly_quota": t.monthly_quota}
                  for name, t in DEFAULT_TIERS.items()},
               "xl": {"rate": 1000, "burst": 2000}}
PORTAL = "'self' https://portal.example.com"


def synth(tmp_path, **context) -> Synthesized:
    build_app(context={**SYNTH_CONTEXT, **context}, outdir=str(tmp_path)).synth()
    return Synthesized(outdir=tmp_path,
                       template=json.loads((tmp_path / "Stepwire.template.json").read_text()),
                       validation_report={})


@pytest.fixture(scope="module")
def three_tiers(tmp_path_factory) -> Synthesized:
    return synth(tmp_path_factory.mktemp("three-tiers"),
                 **{"stepwire:tiers": THREE_TIERS, "stepwire:consoleFrameAncestors": PORTAL})


@pytest.fixture(scope="module")
def keys_off(tmp_path_factory) -> Synthesized:
    return synth(tmp_path_factory.mktemp("keys-off"),
                 **{"stepwire:requireTenantApiKeys": "false"})


def function_of(synthesized, module: str) -> tuple[str, dict]:
    """(logical id, properties) of the function whose handler is lambdas.<module>."""
    return next((logical_id, f["Properties"]) for logical_id, f in
                synthesized.resources("AWS::Lambda::Function").items()
                if f["Properties"]["Handler"] == f"lambdas.{module}.lambda_handler")


def scoped_grants(synthesized, module: str) -> set[tuple[str, str]]:
    """(action, resource as JSON) of the function's role, its logs and tracing aside."""
    role = function_of(synthesized, module)[1]["Role"]["Fn::GetAtt"][0]
    return {(action, json.dumps(resource, sort_keys=True))
            for owner, statement in identity_statements(synthesized) if owner == role
            for action in as_list(statement["Action"]) if not action.startswith(UNSCOPED)
            for resource in as_list(statement["Resource"])}


def plans_by_name(synthesized) -> dict[str, tuple[str, dict]]:
    return {plan["Properties"]["UsagePlanName"]: (logical_id, plan["Properties"]) for
            logical_id, plan in synthesized.resources("AWS::ApiGateway::UsagePlan").items()}


def test_each_tier_is_a_plan_on_the_stage_named_as_the_function_finds_it(synthesized):
    plans = plans_by_name(synthesized)
    stage = next(iter(synthesized.resources("AWS::ApiGateway::Stage")))
    expected = {plan_name(STACK_ID, name): tier for name, tier in DEFAULT_TIERS.items()}
    expected[platform_plan_name(STACK_ID)] = PLATFORM_TIER
    assert set(plans) == set(expected)
    for name, tier in expected.items():
        properties = plans[name][1]
        assert properties["Throttle"] == {"RateLimit": tier.rate, "BurstLimit": tier.burst}
        # standard: 1,000,000 a month; large and the platform: no quota
        assert properties.get("Quota") == ({"Limit": tier.monthly_quota, "Period": "MONTH"}
                                           if tier.monthly_quota else None), name
        [api_stage] = properties["ApiStages"]
        assert api_stage["Stage"] == {"Ref": stage}


def test_the_platform_plan_holds_the_operator_and_refused_keys_and_nothing_else(synthesized):
    keys = synthesized.resources("AWS::ApiGateway::ApiKey")
    by_value = {key["Properties"]["Value"]: logical_id for logical_id, key in keys.items()}
    # Given no tenant in any input, the only keys are the two the authorizer returns for
    # operator tokens and for refused tenants
    assert set(by_value) == {operator_usage_key(STACK_ID), refused_usage_key(STACK_ID)}
    assert all(key["Properties"]["Enabled"] is True for key in keys.values())
    platform = plans_by_name(synthesized)[platform_plan_name(STACK_ID)][0]
    links = {(link["Properties"]["KeyId"]["Ref"], link["Properties"]["UsagePlanId"]["Ref"])
             for link in synthesized.resources("AWS::ApiGateway::UsagePlanKey").values()}
    assert links == {(key, platform) for key in by_value.values()}


@pytest.mark.parametrize("tenants", [["acme"], [{"tenant": "bigco", "rate": 200}], "acme"])
def test_listing_tenants_in_the_context_fails_the_synthesis_with_the_way_forward(tenants):
    with pytest.raises(ValueError) as refused:
        build_app(context={**SYNTH_CONTEXT, "stepwire:tenants": tenants})
    message = str(refused.value)
    assert "stepwire:tenants is no longer read" in message
    assert "POST /tenants" in message and "docs/deploy.md" in message


def test_an_empty_tenant_list_left_in_an_old_context_changes_nothing():
    # An old cdk.json's `"stepwire:tenants": []` names no tenant to lose: no refusal
    app = build_app(context={**SYNTH_CONTEXT, "stepwire:tenants": []})
    assert app.node.find_child(STACK_ID) is not None


def test_the_template_grows_by_one_plan_per_tier_and_by_nothing_per_tenant(synthesized,
                                                                           three_tiers):
    # Given the session's template (the two default tiers) and one with a third tier
    two, three = synthesized.template["Resources"], three_tiers.template["Resources"]
    # Then the only resource added is the third tier's usage plan: tenants add none, since no
    # input of the template names one (they are records, their keys made at run time)
    assert set(two) < set(three)
    [added] = set(three) - set(two)
    assert three[added]["Type"] == "AWS::ApiGateway::UsagePlan"
    assert three[added]["Properties"]["UsagePlanName"] == plan_name(STACK_ID, "xl")
    assert len(three) == len(two) + 1
    assert len(two) < 500  # CloudFormation's limit per template, whatever the tenants


def test_the_functions_read_the_tiers_the_plans_were_made_with(synthesized, three_tiers):
    for template, tiers in ((synthesized, DEFAULT_TIERS), (three_tiers, tiers_of(THREE_TIERS))):
        variables = {f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"]
                     for f in template.resources("AWS::Lambda::Function").values()}
        for module in (API.module, TENANT_LIMITS.module):
            assert variables[f"lambdas.{module}.lambda_handler"]["STEPWIRE_TENANT_TIERS"] == \
                tiers_to_json(tiers)
        assert {e["STEPWIRE_API_USAGE_KEY_NAMESPACE"] for e in variables.values()} == {STACK_ID}


def test_the_tenant_limits_function_may_make_exactly_the_usage_plan_calls(synthesized):
    # Each call of USAGE_PLAN_CALLS: the collections' as they are, the calls within a plan on
    # each tier plan by its id (never the platform plan, which holds the operator's key)
    arn = ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"}]
    tier_plans = [logical_id for name, (logical_id, _) in plans_by_name(synthesized).items()
                  if name != platform_plan_name(STACK_ID)]
    expected = set()
    for method, path in USAGE_PLAN_CALLS.values():
        if not path.startswith("/usageplans/*/"):
            resources = [{"Fn::Join": ["", [*arn, f"::{path}"]]}]
        else:
            rest = path.removeprefix("/usageplans/*")
            resources = [{"Fn::Join": ["", [*arn, "::/usageplans/", {"Ref": plan}, rest]]}
                         for plan in tier_plans]
        expected |= {(f"apigateway:{method}", json.dumps(resource, sort_keys=True))
                     for resource in resources}
    assert len(tier_plans) == len(DEFAULT_TIERS)
    assert scoped_grants(synthesized, TENANT_LIMITS.module) == expected
    # and no other function may touch API Gateway
    others = {module for module in (f["Properties"]["Handler"].split(".")[1] for f in
                                    synthesized.resources("AWS::Lambda::Function").values())
              if module != TENANT_LIMITS.module}
    for module in others:
        assert not any(action.startswith("apigateway:")
                       for action, _ in scoped_grants(synthesized, module)), module


def test_the_api_function_alone_invokes_the_tenant_limits_function_by_its_name(synthesized):
    limits_id, limits = function_of(synthesized, TENANT_LIMITS.module)
    invokes = {module: {resource for action, resource in scoped_grants(synthesized, module)
                        if action.startswith("lambda:")}
               for module in (f["Properties"]["Handler"].split(".")[1] for f in
                              synthesized.resources("AWS::Lambda::Function").values())}
    assert {module for module, grants in invokes.items() if grants} == {API.module}
    assert invokes[API.module] == {json.dumps({"Fn::GetAtt": [limits_id, "Arn"]})}
    api_variables = function_of(synthesized, API.module)[1]["Environment"]["Variables"]
    assert api_variables["STEPWIRE_TENANT_LIMITS_FUNCTION_NAME"] == {"Ref": limits_id}
    # (the function does not name itself: no cycle, and it never invokes anything)
    assert "STEPWIRE_TENANT_LIMITS_FUNCTION_NAME" not in limits["Environment"]["Variables"]
    assert limits["ReservedConcurrentExecutions"] == TENANT_LIMITS.reserved_concurrency


def test_the_operator_routes_sign_tokens_and_the_authorizer_reads_tenants(synthesized):
    [jwt_secret] = [logical_id for logical_id in
                    synthesized.resources("AWS::SecretsManager::Secret")
                    if "JwtSigningKey" in logical_id]
    # POST /tenants/{id}/tokens signs with the current key
    assert ("secretsmanager:GetSecretValue", json.dumps({"Ref": jwt_secret})) in \
        scoped_grants(synthesized, API.module)
    # The authorizer reads the tenant's record (active, suspended or unregistered)
    [table] = [logical_id for logical_id, t in
               synthesized.resources("AWS::DynamoDB::Table").items()
               if t["Properties"]["KeySchema"][0]["AttributeName"] == "pk"]
    assert ("dynamodb:GetItem", json.dumps({"Fn::GetAtt": [table, "Arn"]})) in \
        scoped_grants(synthesized, AUTHORIZER.module)


def test_a_tenant_without_a_key_is_refused_as_problem_json_saying_what_to_do(synthesized):
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in
                 synthesized.resources("AWS::ApiGateway::GatewayResponse").values()}
    refused = responses["INVALID_API_KEY"]
    assert refused["StatusCode"] == "403"
    body = json.loads(refused["ResponseTemplates"]["application/problem+json"])
    assert "POST /tenants" in body["detail"] and "PATCH /tenants/{id}" in body["detail"]
    assert "stepwire:tenants" not in body["detail"]


def test_the_console_may_be_framed_by_what_the_context_names(synthesized, three_tiers):
    def frame_ancestors(template) -> str:
        return function_of(template, API.module)[1]["Environment"]["Variables"][
            "STEPWIRE_CONSOLE_FRAME_ANCESTORS"]

    assert frame_ancestors(synthesized) == "'none'"
    assert frame_ancestors(three_tiers) == PORTAL


@pytest.mark.parametrize("ancestors", ["https://portal.example.com; script-src *", "*",
                                       "http://portal.example.com", "'none' 'self'"])
def test_a_frame_ancestors_value_the_api_would_refuse_fails_the_synthesis(ancestors):
    with pytest.raises(ValueError, match="console_frame_ancestors"):
        build_app(context={**SYNTH_CONTEXT, "stepwire:consoleFrameAncestors": ancestors})


def test_without_tenant_api_keys_no_plan_key_or_tenant_limits_function(keys_off):
    assert not keys_off.resources("AWS::ApiGateway::UsagePlan")
    assert not keys_off.resources("AWS::ApiGateway::ApiKey")
    handlers = {f["Properties"]["Handler"] for f in
                keys_off.resources("AWS::Lambda::Function").values()}
    assert TENANT_LIMITS.handler not in handlers
    api_variables = function_of(keys_off, API.module)[1]["Environment"]["Variables"]
    # (Settings' default, empty: a tier is recorded and nothing is applied)
    assert "STEPWIRE_TENANT_LIMITS_FUNCTION_NAME" not in api_variables
    assert not any(m["Properties"].get("ApiKeyRequired") for m in
                   keys_off.resources("AWS::ApiGateway::Method").values())


@pytest.mark.parametrize(("entry", "message"), [
    ({"large": {"rate": 200, "burst": 400}}, "must include 'standard'"),
    ({"standard": {"rate": 0, "burst": 40}}, "rate must be an integer ≥ 1"),
    ({"standard": {"rate": 50, "burst": 10}}, "burst must be at least its rate"),
    ({"standard": {"rate": 20, "burst": 40, "rps": 5}}, "rps"),
    ({"standard": {"rate": 20, "burst": 40}, "gold tier": {"rate": 20, "burst": 40}},
     "'gold tier': a tier's name"),
    (["standard"], "an object of"),
    ("{not json", "stepwire:tiers"),
])
def test_wrong_tiers_fail_the_synthesis_with_their_reason(entry, message):
    with pytest.raises(ValueError, match=message):
        tiers_of(entry)


def test_tiers_come_from_the_context_as_an_object_or_its_json_text():
    assert tiers_of(None) == DEFAULT_TIERS
    text = '{"standard": {"rate": 5, "burst": 10}}'
    assert tiers_of(text) == tiers_of(json.loads(text)) == {"standard": Tier(5, 10)}
