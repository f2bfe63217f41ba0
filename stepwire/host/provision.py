"""Creates, on the emulated AWS APIs, every resource the cloud stack creates.

State machines come from the same files with the same `${Placeholder}` names as in CDK; the
API's usage plans with the same names (`stepwire/host/api_keys.py`).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepwire.host.api_keys import configured_tiers, provision_usage_plans
from workflows.auth.usage_plans import Tier
from workflows.secrets.secret_box import new_data_key
from workflows.storage import table

STATEMACHINES_DIR = Path(__file__).resolve().parents[2] / "statemachines"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

BUS_NAME = "stepwire"
ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/stepwire-workflows"
# The function that puts a tenant's API key in its tier's usage plan (the API invokes it).
TENANT_LIMITS_FUNCTION = "stepwire-tenant-limits"


@dataclass(frozen=True)
class Machine:
    """One state machine file and its workflow type; `${<Pascal name>StateMachineArn}` in the
    other files refers to it."""

    name: str
    type: str

    @property
    def placeholder(self) -> str:
        return "".join(part.title() for part in self.name.split("-")) + "StateMachineArn"


# In creation order: a machine comes after those it starts. The cloud stack deploys the same.
MACHINES = (Machine("recovery", "STANDARD"), Machine("long-tail", "STANDARD"),
            Machine("notification", "EXPRESS"), Machine("ingest", "EXPRESS"))


@dataclass(frozen=True)
class Resources:
    table_name: str
    idempotency_table_name: str
    dead_letter_queue_url: str
    ingress_queue_url: str
    # What the ingest refused, and what the bus could not hand over (the rule target's DLQ).
    ingress_dead_letter_queue_url: str
    jwt_secret_id: str
    data_key_secret_id: str
    state_machine_arns: dict[str, str]
    # What the usage plans and keys are named after (Settings.api_usage_key_namespace).
    usage_key_namespace: str = "stepwire"

    @property
    def ingest_state_machine_arn(self) -> str:
        return self.state_machine_arns["ingest"]

    @property
    def notification_state_machine_arn(self) -> str:
        return self.state_machine_arns["notification"]

    @property
    def long_tail_state_machine_arn(self) -> str | None:
        return self.state_machine_arns.get("long-tail")

    @property
    def recovery_state_machine_arn(self) -> str | None:
        return self.state_machine_arns.get("recovery")


def render_definition(name: str, substitutions: dict[str, str],
                      directory: Path = STATEMACHINES_DIR) -> str:
    """The ASL file `name` with every placeholder filled; a missing value is an error."""
    text = (directory / f"{name}.asl.json").read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - substitutions.keys())
    if missing:
        raise KeyError(f"{name}.asl.json needs values for: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


def provision(clients: dict[str, Any], function_arns: dict[str, str],
              prefix: str = "stepwire", machines: tuple[Machine, ...] = MACHINES,
              statemachines_dir: Path = STATEMACHINES_DIR,
              tiers: dict[str, Tier] | None = None) -> Resources:
    """`clients` maps service names to boto3 clients; `function_arns` the Lambda placeholders.
    `machines` and `statemachines_dir` differ only to price another pipeline (bench/cost.py).
    With an "apigateway" client, the tiers' usage plans (`tiers`, default the configured
    ones) and the platform plan are made, in the namespace `prefix`."""
    dynamodb, sqs = clients["dynamodb"], clients["sqs"]
    secrets, events, sfn = clients["secretsmanager"], clients["events"], clients["stepfunctions"]

    table_name = prefix
    dynamodb.create_table(**table.create_table_request(table_name))
    dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": table.TTL_ATTRIBUTE})
    idempotency_table = f"{prefix}-idempotency"
    dynamodb.create_table(**table.create_idempotency_table_request(idempotency_table))
    dynamodb.update_time_to_live(TableName=idempotency_table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": table.IDEMPOTENCY_TTL_ATTRIBUTE})

    dlq_url = _dead_letter_queue(sqs, f"{prefix}-dead-letters")
    ingress_dlq_url = _dead_letter_queue(sqs, f"{prefix}-ingress-dead-letters")
    ingress_url = sqs.create_queue(QueueName=f"{prefix}-ingress")["QueueUrl"]

    if "apigateway" in clients:
        provision_usage_plans(clients["apigateway"], prefix,
                              configured_tiers() if tiers is None else tiers)

    jwt_secret = secrets.create_secret(Name=f"{prefix}/jwt-signing-key",
                                       SecretString=new_data_key())["ARN"]
    data_key = secrets.create_secret(Name=f"{prefix}/data-key",
                                     SecretString=new_data_key())["ARN"]

    # EventBridge ingress: bus → rule → SQS (moto cannot target a state machine) → poller.
    events.create_event_bus(Name=BUS_NAME)
    events.put_rule(Name=f"{prefix}-ingest", EventBusName=BUS_NAME,
                    EventPattern=json.dumps({"detail-type": [{"exists": True}]}))
    # The target's dead-letter queue is the cloud's: the ingress dead-letter queue.
    events.put_targets(Rule=f"{prefix}-ingest", EventBusName=BUS_NAME, Targets=[{
        "Id": "ingress-queue", "Arn": _queue_arn(sqs, ingress_url),
        "DeadLetterConfig": {"Arn": _queue_arn(sqs, ingress_dlq_url)}}])

    # Every file gets the values it names: the functions, the table, the queue, and the ARNs
    # of the machines created before it.
    values = {**function_arns, "TableName": table_name, "DeadLetterQueueUrl": dlq_url,
              "IngressDeadLetterQueueUrl": ingress_dlq_url}
    arns: dict[str, str] = {}
    for machine in machines:
        arns[machine.name] = values[machine.placeholder] = sfn.create_state_machine(
            name=f"{prefix}-{machine.name}", roleArn=ROLE_ARN, type=machine.type,
            definition=render_definition(machine.name, values, statemachines_dir),
        )["stateMachineArn"]
    return Resources(table_name=table_name, idempotency_table_name=idempotency_table,
                     dead_letter_queue_url=dlq_url, ingress_queue_url=ingress_url,
                     ingress_dead_letter_queue_url=ingress_dlq_url,
                     jwt_secret_id=jwt_secret, data_key_secret_id=data_key,
                     state_machine_arns=arns, usage_key_namespace=prefix)


def _dead_letter_queue(sqs: Any, name: str) -> str:
    """A queue kept 14 days, as the cloud's dead-letter queues (stacks/queues.py)."""
    return sqs.create_queue(QueueName=name, Attributes={
        "MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
