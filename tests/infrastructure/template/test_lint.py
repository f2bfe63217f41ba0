"""cdk-nag (AwsSolutions) with zero unacknowledged findings, and cfn-lint on the template."""

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.constants import REPO_ROOT

pytestmark = pytest.mark.infrastructure

# Finding → what it is acknowledged on. A new acknowledgement has to be added here on purpose.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-IAM5[Resource::*]": "X-Ray and Step Functions log delivery (no resource scope)",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]": "API Gateway's account-level CloudWatch role",
    "AwsSolutions-L1": "python3.12, matched by the wheels and the layer",
    "AwsSolutions-SQS3": "the dead-letter queues themselves",
    "AwsSolutions-SMG4": "the data key",
    "AwsSolutions-COG4": "Lambda JWT authorizer and public routes",
    "AwsSolutions-APIG4": "the public routes: health, the API's documents, the console's files",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
    "execution:Stepwire-recovery:*]": "DescribeExecution of the recovery's executions (named at "
                                      "run time): parking, the probe, the release, the reconciler",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
    "execution:Stepwire-long-tail:*]": "DescribeExecution of the long tails (named at run time): "
                                       "the reconciler",
    # One per tier plan: the tenant-limits function takes a key (its id made at run time) out
    # of a tier plan named by its id
    **{"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"
       f"/usageplans/<ApiRestApiTier{tier}{suffix}>/keys/*]": "a key out of a tier plan"
       for tier, suffix in (("standard", "E5F9956C"), ("large", "81E83113"))},
}
PUBLIC_METHODS = {"health/GET", "openapi.json/GET", "docs/GET",
                  # the console's page and files: they sign in with a token they are given
                  "console/GET", "console/{asset}/GET"}


def aws_solutions(synthesized) -> dict:
    reports = synthesized.validation_report["pluginReports"]
    return next(r for r in reports if r["pluginName"] == "AwsSolutions")


def test_cdk_nag_ran_and_left_no_finding_unacknowledged(synthesized):
    report = aws_solutions(synthesized)
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    assert report["suppressedViolations"], "the checks ran: some findings are acknowledged"


def test_every_acknowledgement_is_expected_and_carries_a_specific_reason(synthesized):
    suppressed = aws_solutions(synthesized)["suppressedViolations"]
    assert {s["ruleName"] for s in suppressed} == set(EXPECTED_ACKNOWLEDGEMENTS)
    for finding in suppressed:
        assert len(finding["reason"]) >= 80, finding["ruleName"]
        # Acknowledged where it applies, never for the whole stack.
        assert finding["acknowledgedAt"].count("/") >= 2, finding["acknowledgedAt"]


def test_only_the_public_routes_lack_authorization(synthesized):
    suppressed = aws_solutions(synthesized)["suppressedViolations"]
    unauthorized = {construct["constructPath"].split("/Default/")[1].removesuffix("/Resource")
                    for finding in suppressed if finding["ruleName"] == "AwsSolutions-APIG4"
                    for construct in finding["violatingConstructs"]}
    assert unauthorized == PUBLIC_METHODS


def test_cfn_lint_is_clean(synthesized):
    # .cfnlintrc ignores W3005 only (CDK-generated DependsOn).
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(synthesized.template_path)],
                            capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
