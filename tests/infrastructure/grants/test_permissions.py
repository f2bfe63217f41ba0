"""Least privilege: no `*` action anywhere; a `*` resource only where AWS offers no scope."""

import pytest

pytestmark = pytest.mark.infrastructure

# The only actions allowed on Resource "*", by name: AWS offers them no resource scope.
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
XRAY_SAMPLING = {"xray:GetSamplingRules", "xray:GetSamplingTargets"}
LOG_DELIVERY = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}
UNSCOPED_BY_ROLE = {
    # Lambda active tracing.
    **{f"Functions{name}Role": XRAY for name in
       ("Ingest", "Ingress", "Deliver", "RecordFailure", "HandOff", "ProbeEndpoint",
        "ReleaseParked", "Api", "Authorizer", "TenantLimits", "RotateJwtKey",
        "SeedSecretKeys", "Reconcile")},
    # Step Functions logging at level ALL and X-Ray tracing.
    "WorkflowsIngestRole": XRAY | XRAY_SAMPLING | LOG_DELIVERY,
    "WorkflowsNotificationRole": XRAY | XRAY_SAMPLING | LOG_DELIVERY,
    "WorkflowsLongTailRole": XRAY | XRAY_SAMPLING | LOG_DELIVERY,
    "WorkflowsRecoveryRole": XRAY | XRAY_SAMPLING | LOG_DELIVERY,
}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def identity_statements(synthesized):
    """(role logical id, statement) of every identity policy in the template."""
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield role["Ref"], statement
    for role_id, role in synthesized.resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            for statement in inline["PolicyDocument"]["Statement"]:
                yield role_id, statement


def resource_policy_statements(synthesized):
    for resource_type, key in (("AWS::SQS::QueuePolicy", "PolicyDocument"),
                               ("AWS::SNS::TopicPolicy", "PolicyDocument"),
                               ("AWS::KMS::Key", "KeyPolicy")):
        for logical_id, resource in synthesized.resources(resource_type).items():
            for statement in resource["Properties"][key]["Statement"]:
                yield logical_id, statement


def test_no_statement_allows_a_wildcard_action(synthesized):
    for owner, statement in identity_statements(synthesized):
        assert statement["Effect"] == "Allow", owner
        for action in as_list(statement["Action"]):
            assert "*" not in action, (owner, action)


def test_resource_policies_allow_no_wildcard_action_but_the_key_administrators(synthesized):
    for owner, statement in resource_policy_statements(synthesized):
        if statement["Effect"] == "Deny":
            continue  # sqs:* / sns:* denied without TLS: a wildcard that only restricts
        for action in as_list(statement["Action"]):
            if action == "kms:*":
                # The KMS default key policy: the account administers its own key (without it
                # the key becomes unmanageable). Its principal is the account root, nobody else.
                assert "root" in str(statement["Principal"]), owner
                continue
            assert "*" not in action, (owner, action)


def test_a_star_resource_only_where_aws_offers_no_resource_scope(synthesized):
    unscoped: dict[str, set[str]] = {}
    for role, statement in identity_statements(synthesized):
        if "*" in as_list(statement["Resource"]):
            unscoped.setdefault(_role_name(role), set()).update(as_list(statement["Action"]))
    assert unscoped == UNSCOPED_BY_ROLE


def test_no_managed_policy_except_api_gateways_logging_role(synthesized):
    with_managed = {role_id: role["Properties"]["ManagedPolicyArns"]
                    for role_id, role in synthesized.resources("AWS::IAM::Role").items()
                    if role["Properties"].get("ManagedPolicyArns")}
    assert len(with_managed) == 1
    (role_id, arns), = with_managed.items()
    assert role_id.startswith("ApiRestApiCloudWatchRole")
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in str(arns)


def test_state_machines_invoke_only_their_own_functions_and_the_api_one(synthesized):
    invoked = {}
    for role, statement in identity_statements(synthesized):
        if "lambda:InvokeFunction" in as_list(statement["Action"]):
            invoked[_role_name(role)] = {r["Fn::GetAtt"][0] for r in as_list(statement["Resource"])}
    functions = synthesized.resources("AWS::Lambda::Function")
    handler = {logical_id: f["Properties"]["Handler"].split(".")[1]
               for logical_id, f in functions.items()}
    assert {role: {handler[f] for f in targets} for role, targets in invoked.items()} == {
        "WorkflowsIngestRole": {"handle_ingest_event"},
        "WorkflowsNotificationRole": {"handle_deliver_notification", "handle_record_failure",
                                      "handle_hand_off"},
        "WorkflowsLongTailRole": {"handle_deliver_notification", "handle_record_failure",
                                  "handle_hand_off"},
        # (the probe dead-letters expired notifications itself: no RecordFailure task)
        "WorkflowsRecoveryRole": {"handle_probe_endpoint", "handle_release_parked"},
        # An operator's tenant routes wait for the tenant's key to be in its tier's plan
        "FunctionsApiRole": {"handle_apply_tenant_limits"},
    }


def test_workflow_types_and_who_may_start_what(synthesized):
    """The hot path is Express; only the fast notification workflow starts the long tail;
    the ingest machine starts nothing itself (its function does);
    parking (fast path or long tail) starts the endpoint's recovery, whose release restarts
    notifications; a recovery starts its successor, a re-enable a new recovery."""
    machines = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    types = {m["Properties"]["StateMachineName"].split("-", 1)[1]:
             m["Properties"]["StateMachineType"] for m in machines}
    assert types == {"ingest": "EXPRESS", "notification": "EXPRESS", "long-tail": "STANDARD",
                     "recovery": "STANDARD"}
    by_ref = {logical_id: m["Properties"]["StateMachineName"].split("-", 1)[1]
              for logical_id, m in synthesized.resources(
                  "AWS::StepFunctions::StateMachine").items()}

    def machine(resource) -> str:
        if isinstance(resource, dict) and "Ref" in resource:
            return by_ref[resource["Ref"]]
        return str(resource).split(":stateMachine:")[-1].split("-", 1)[-1].strip("\"']}")

    starts = {}
    for role, statement in identity_statements(synthesized):
        if "states:StartExecution" in as_list(statement["Action"]):
            starts.setdefault(_role_name(role), set()).update(
                machine(r) for r in as_list(statement["Resource"]))
    assert starts == {
        # An acceptance fans out its first page and starts the ingest for the rest; each page
        # starts the notifications it creates.
        "FunctionsIngestRole": {"ingest", "notification"},
        "FunctionsIngressRole": {"ingest", "notification"},
        "WorkflowsNotificationRole": {"long-tail", "recovery"},
        "WorkflowsLongTailRole": {"recovery"},
        "FunctionsReleaseParkedRole": {"notification"},
        # A re-enable starts the endpoint's new recovery (and stops the one it replaces).
        "FunctionsApiRole": {"ingest", "notification", "recovery"},
        # Continue-as-new and a superseded recovery start a new execution of it.
        "WorkflowsRecoveryRole": {"recovery"},
        # What dead executions left: a fan-out, a notification, an endpoint's recovery.
        "FunctionsReconcileRole": {"ingest", "notification", "recovery"},
    }


def _role_name(logical_id: str) -> str:
    """`FunctionsIngestRoleAB12CD34` → `FunctionsIngestRole` (CDK appends an 8-hex hash)."""
    return logical_id[:-8]
