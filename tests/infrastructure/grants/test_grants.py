"""Grants cover calls: what the code calls in AWS is what the synthesized roles allow.

moto enforces no IAM, so the local tiers pass whatever the roles say. Here:
- every AWS call a Lambda handler made while the functional and workflow tiers ran (recorded by
  tests/support/aws_calls.py) must be allowed, action and resource, by that function's role;
- every Task of every state machine definition must be allowed by that machine's role (its
  service integrations are read from the ASL, where the engine's own calls are decided);
- grants that nothing recorded uses are reported, so least privilege stays least.
"""

import json
import re
import warnings
from pathlib import Path

import pytest

from stacks.constants import STATEMACHINES_DIR
from stepwire.host.provision import TENANT_LIMITS_FUNCTION
from tests.infrastructure.grants.test_permissions import as_list, identity_statements
from tests.support import aws_calls

pytestmark = pytest.mark.infrastructure

# What a Task's integration ARN asks of the role (optimized integrations, request-response).
_INTEGRATION_ACTION = {"dynamodb:updateItem": "dynamodb:UpdateItem",
                       "dynamodb:putItem": "dynamodb:PutItem",
                       "dynamodb:getItem": "dynamodb:GetItem",
                       "sqs:sendMessage": "sqs:SendMessage",
                       "states:startExecution": "states:StartExecution",
                       "lambda:invoke": "lambda:InvokeFunction"}
_UNSCOPED_SERVICES = ("logs:", "xray:")  # log delivery and tracing: no resource scope exists
# A function a handler invokes by its local name → the handler it runs (as the template's
# function resources are named).
_LOCAL_FUNCTIONS = {f"function:{TENANT_LIMITS_FUNCTION}": "function:handle_apply_tenant_limits"}


def kind_of(resource, template: dict) -> str:
    """The resource kind of a policy statement's Resource, as the recorder names it."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id = resource["Fn::GetAtt"][0]
        kind = template["Resources"][logical_id]["Type"]
        if kind == "AWS::DynamoDB::Table":
            return "idempotency-table" if "IdempotencyTable" in logical_id else "table"
        if kind == "AWS::SQS::Queue":
            return ("ingress-dead-letter-queue" if "IngressDeadLetter" in logical_id
                    else "dead-letter-queue")
        if kind == "AWS::Lambda::Function":
            handler = template["Resources"][logical_id]["Properties"]["Handler"]
            return f"function:{handler.split('.')[1]}"
        return logical_id
    if isinstance(resource, dict) and "Ref" in resource:
        logical_id = resource["Ref"]
        if "JwtSigningKey" in logical_id:
            return "jwt-secret"
        if "DataKey" in logical_id:
            return "data-key-secret"
        if template["Resources"][logical_id]["Type"] == "AWS::StepFunctions::StateMachine":
            return f"{template['Resources'][logical_id]['Properties']['StateMachineName']}"
        return logical_id
    if isinstance(resource, dict) and "Fn::Join" in resource:
        parts = resource["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else "{}" for p in parts)
        if text.startswith("{}/index/"):
            return "table-index"
        if ":apigateway:" in text:  # arn:…:apigateway:<region>::/usageplans/<plan id>/keys
            # a plan named by its id is, to the recorder, any plan (a path parameter: `*`)
            return f"apigateway:{text.split('::', 1)[1].replace('{}', '*')}"
        found = re.search(r":(stateMachine|execution):[^:-]+-([\w-]+)", text)
        if found:
            suffix = 'machine' if found.group(1) == 'stateMachine' else 'executions'
            return f"{found.group(2)}-{suffix}"
    return json.dumps(resource)


def grants(template: dict) -> dict[str, set[tuple[str, str]]]:
    """Role logical id → the (action, resource kind) pairs its identity policies allow."""
    allowed: dict[str, set[tuple[str, str]]] = {}
    for role, statement in identity_statements(_Template(template)):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                allowed.setdefault(role, set()).add((action, kind_of(resource, template)))
    return allowed


class _Template:
    def __init__(self, template: dict) -> None:
        self.template = template

    def resources(self, resource_type: str) -> dict:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


def function_roles(template: dict) -> dict[str, str]:
    """Handler module (handle_api_request) → its role's logical id."""
    return {props["Handler"].split(".")[1]: props["Role"]["Fn::GetAtt"][0]
            for props in (r["Properties"] for r in template["Resources"].values()
                          if r["Type"] == "AWS::Lambda::Function")
            if props.get("Handler", "").startswith("lambdas.")}


def machine_roles(template: dict) -> dict[str, str]:
    """ASL file stem (notification) → its state machine role's logical id."""
    return {props["StateMachineName"].split("-", 1)[1]: props["RoleArn"]["Fn::GetAtt"][0]
            for props in (r["Properties"] for r in template["Resources"].values()
                          if r["Type"] == "AWS::StepFunctions::StateMachine")}


def placeholder_kind(value: str) -> str:
    """${TableName} → table; ${DeliverFunctionArn} → function:handle_deliver_notification…"""
    name = re.fullmatch(r"\$\{(\w+)\}", value or "")
    if not name:
        return value
    name = name.group(1)
    if name == "TableName":
        return "table"
    if name == "DeadLetterQueueUrl":
        return "dead-letter-queue"
    if name == "IngressDeadLetterQueueUrl":
        return "ingress-dead-letter-queue"
    if name.endswith("StateMachineArn"):
        stem = re.sub(r"(?<!^)(?=[A-Z])", "-", re.sub(r"StateMachineArn$", "", name))
        return f"{stem.lower()}-machine"
    if name.endswith("FunctionArn"):
        return f"function:{FUNCTION_MODULES[re.sub(r'FunctionArn$', '', name)]}"
    return name


FUNCTION_MODULES = {"Ingest": "handle_ingest_event", "Deliver": "handle_deliver_notification",
                    "RecordFailure": "handle_record_failure", "HandOff": "handle_hand_off",
                    "ProbeEndpoint": "handle_probe_endpoint",
                    "ReleaseParked": "handle_release_parked"}


def task_needs(definition: dict, machine: str) -> set[tuple[str, str, str]]:
    """(state name, IAM action, resource kind) of every Task, Map iterators included."""
    needs = set()
    for name, state in definition.get("States", {}).items():
        for inner in ("Iterator", "ItemProcessor"):
            if inner in state:
                needs |= task_needs(state[inner], machine)
        for branch in state.get("Branches", []):
            needs |= task_needs(branch, machine)
        if state.get("Type") != "Task":
            continue
        resource = state["Resource"]
        parameters = state.get("Parameters", {})
        if resource.startswith("arn:aws:states:::"):
            integration = resource.removeprefix("arn:aws:states:::").split(".")[0]
            action = _INTEGRATION_ACTION[integration]
            target = (parameters.get("TableName") or parameters.get("QueueUrl")
                      or parameters.get("StateMachineArn") or parameters.get("FunctionName"))
            if parameters.get("StateMachineArn.$") == "$$.StateMachine.Id":
                target = f"{machine}-machine"  # a new execution of itself
        else:
            action, target = "lambda:InvokeFunction", resource
        needs.add((name, action, placeholder_kind(target)))
    return needs


def test_every_call_a_handler_made_is_granted_to_its_function(synthesized):
    if not aws_calls.CALLS:
        pytest.skip("no handler ran in this session: run with the functional and workflow "
                    "tiers (make test) to record their AWS calls")
    template = synthesized.template
    allowed, roles = grants(template), function_roles(template)
    calls = {(handler, action, _LOCAL_FUNCTIONS.get(kind, kind))
             for handler, action, kind in aws_calls.CALLS}
    missing = sorted((handler, action, kind) for handler, action, kind in calls
                     if (action, kind) not in allowed.get(roles[handler], set()))
    assert not missing, "calls without a grant (handler, action, resource):\n" + "\n".join(
        map(str, missing))
    # Reported, not failed: a grant no recorded call used (least privilege stays least).
    used = {(roles[h], a, k) for h, a, k in calls}
    unused = sorted((module, action, kind) for module, role in roles.items()
                    for action, kind in allowed.get(role, set())
                    if (role, action, kind) not in used and not action.startswith(
                        _UNSCOPED_SERVICES))
    if unused:
        warnings.warn("grants no recorded call used:\n" + "\n".join(map(str, unused)),
                      stacklevel=1)


def test_the_recorder_sees_the_calls_it_must(synthesized):
    if not aws_calls.CALLS:
        pytest.skip("no handler ran in this session")
    handlers = {handler for handler, _, _ in aws_calls.CALLS}
    assert {"handle_api_request", "handle_authorize_request", "handle_ingest_event",
            "handle_deliver_notification", "handle_record_failure"} <= handlers
    assert ("handle_deliver_notification", "dynamodb:BatchGetItem", "table") in aws_calls.CALLS


@pytest.mark.parametrize("machine", sorted(p.name.split(".")[0]
                                           for p in Path(STATEMACHINES_DIR).glob("*.asl.json")))
def test_every_task_of_a_state_machine_is_granted_to_its_role(synthesized, machine):
    template = synthesized.template
    definition = json.loads((Path(STATEMACHINES_DIR) / f"{machine}.asl.json").read_text())
    allowed = grants(template)[machine_roles(template)[machine]]
    needs = task_needs(definition, machine)
    assert needs, "a workflow without a Task"
    missing = sorted(need for need in needs if need[1:] not in allowed)
    assert not missing, f"{machine}: Tasks without a grant (state, action, resource): {missing}"
    unused = {grant for grant in allowed if not grant[0].startswith(_UNSCOPED_SERVICES)} - {
        need[1:] for need in needs}
    assert not unused, f"{machine}: grants no Task uses: {sorted(unused)}"
