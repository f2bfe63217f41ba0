"""The chaos API of `stepwire local`, driven over HTTP as a user would: rules added, seen,
felt by an AWS client of the endpoint, removed; and a run started with a rules file."""

import json
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.e2e.conftest import start_local, stop_local

pytestmark = pytest.mark.e2e

THROTTLE = {"service": "dynamodb", "operation": "GetItem",
            "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}


def test_rules_from_a_file_are_announced_then_changed_over_http(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"service": "sqs", "region": "eu-west-1"}]))
    local = start_local("--aws-faults", str(rules), "--aws-faults-seed", "42")
    try:
        faults = f"{local.aws_endpoint}/_stepwire/chaos/faults"
        dynamodb = boto3.client("dynamodb", endpoint_url=local.aws_endpoint,
                                region_name="us-east-1", aws_access_key_id="local",
                                aws_secret_access_key="local",
                                config=Config(retries={"total_max_attempts": 1}))
        key = {"pk": {"S": "chaos"}, "sk": {"S": "chaos"}}

        before = dynamodb.get_item(TableName="stepwire", Key=key)
        added = httpx.post(faults, json=[THROTTLE])
        with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException):
            dynamodb.get_item(TableName="stepwire", Key=key)
        listed = httpx.get(faults).json()
        removed = httpx.request("DELETE", faults, json=[THROTTLE])
        after = dynamodb.get_item(TableName="stepwire", Key=key)
        refused = httpx.post(faults, content=b"[{")
    finally:
        _, output = stop_local(local)

    assert "AWS faults:   ACTIVE, 1 active (sqs/eu-west-1 503 ServiceUnavailable)" in \
        local.banner
    assert before["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert added.status_code == 200
    assert listed == [{"service": "sqs", "region": "eu-west-1"}, THROTTLE]
    assert removed.json() == [{"service": "sqs", "region": "eu-west-1"}]
    assert after["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert refused.status_code == 400 and "not JSON" in refused.json()["message"]
    assert "aws faults: fault rules 1 added: 2 active" in output
    assert "aws faults: fault rules 1 removed: 1 active" in output


def test_an_invalid_rules_file_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"service": "dynamodb", "probability": 3}]))

    with pytest.raises(RuntimeError, match="probability must be a number from 0 to 1"):
        start_local("--aws-faults", str(rules))
