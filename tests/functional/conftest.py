"""Functional tier: the AWS APIs emulated by moto in process; no outside network."""

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from workflows import wiring
from workflows.secrets.secret_box import new_data_key
from workflows.storage import Store, table

TABLE = "stepwire-test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Emulated table and secrets, and the STEPWIRE_* environment that points at them."""
    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**table.create_table_request(TABLE))
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        data_key = secrets.create_secret(Name="data-key", SecretString=new_data_key())["ARN"]
        env = {
            "STEPWIRE_TABLE_NAME": TABLE,
            "STEPWIRE_IDEMPOTENCY_TABLE_NAME": f"{TABLE}-idempotency",
            "STEPWIRE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
            "STEPWIRE_INGEST_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:i",
            "STEPWIRE_NOTIFICATION_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:n",
            "STEPWIRE_RECOVERY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:r",
            "STEPWIRE_DATA_KEY_SECRET_ID": data_key,
            "STEPWIRE_JWT_SECRET_ID": "jwt",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("STEPWIRE_AWS_ENDPOINT_URL", raising=False)
        wiring.reset()
        yield {"dynamodb": dynamodb, "secrets": secrets, "data_key": data_key}
        wiring.reset()
    os.environ.pop("STEPWIRE_TABLE_NAME", None)


@pytest.fixture
def store(aws: dict) -> Store:
    return wiring.store()
