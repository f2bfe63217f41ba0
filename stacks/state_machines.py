"""The workflows from statemachines/*.asl.json, logged at ALL with execution data, traced,
explicit grants: ingest and notification are Express (the hot path), the long tail and the
endpoint recovery Standard.

Express executions have no history in AWS: their log group is what the console reads to list
and show them. CDK cannot infer permissions from a definition file, so each role gets exactly
what its definition's Task states call.
"""

import re
from dataclasses import dataclass

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constants import (
    INGEST_MACHINE,
    LOG_RETENTION,
    LONG_TAIL_MACHINE,
    NOTIFICATION_MACHINE,
    RECOVERY_MACHINE,
    STATEMACHINES_DIR,
)

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class WorkflowFunctions:
    """The Lambda functions the workflows' Task states invoke."""

    ingest: lambda_.IFunction
    deliver: lambda_.IFunction
    record_failure: lambda_.IFunction
    hand_off: lambda_.IFunction
    probe_endpoint: lambda_.IFunction
    release_parked: lambda_.IFunction


@dataclass(frozen=True)
class MachineName:
    """A state machine's name and ARN, known before it exists (no dependency cycle)."""

    name: str
    arn: str

    @classmethod
    def of(cls, stack: Stack, machine: str) -> "MachineName":
        name = f"{stack.stack_name}-{machine}"
        return cls(
            name=name,
            arn=stack.format_arn(service="states", resource="stateMachine", resource_name=name,
                                 arn_format=ArnFormat.COLON_RESOURCE_NAME))


def definition_text(machine: str, substitutions: dict[str, str]) -> str:
    """The ASL file; every placeholder must have a value and every value a placeholder."""
    text = (STATEMACHINES_DIR / f"{machine}.asl.json").read_text()
    placeholders = set(PLACEHOLDER.findall(text))
    if placeholders != substitutions.keys():
        raise KeyError(f"{machine}.asl.json placeholders {sorted(placeholders)} do not match "
                       f"the substitutions {sorted(substitutions)}")
    return text


class StateMachines(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, ingest: MachineName,
                 notification: MachineName, long_tail: MachineName, recovery: MachineName,
                 functions: "WorkflowFunctions", table: dynamodb.ITable,
                 dead_letter_queue: sqs.IQueue, logs_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._logs_key = logs_key
        dead_lettering = {
            "RecordFailureFunctionArn": functions.record_failure.function_arn,
            "DeadLetterQueueUrl": dead_letter_queue.queue_url,
        }
        delivering = {
            **dead_lettering,
            "DeliverFunctionArn": functions.deliver.function_arn,
            "TableName": table.table_name,
        }
        parking = {
            "HandOffFunctionArn": functions.hand_off.function_arn,
            "RecoveryStateMachineArn": recovery.arn,
        }
        send_dead_letters = iam.PolicyStatement(actions=["sqs:SendMessage"],
                                                resources=[dead_letter_queue.queue_arn])
        delivering_statements = [
            # RecordBackoff / RecordRetryAfter (the notification's row) and MarkQueued (the
            # dead letter's row): one UpdateItem each.
            iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[table.table_arn]),
            send_dead_letters,
            # StartRecovery: the endpoint's one recovery execution (fire and forget).
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[recovery.arn]),
        ]
        self.recovery = self._build_machine(
            "Recovery", recovery, RECOVERY_MACHINE, sfn.StateMachineType.STANDARD,
            # The Probe function dead-letters expired notifications itself (in batches).
            substitutions={"ProbeEndpointFunctionArn": functions.probe_endpoint.function_arn,
                           "ReleaseParkedFunctionArn": functions.release_parked.function_arn},
            statements=[_invoke(functions.probe_endpoint, functions.release_parked),
                        # HandOver: a fresh execution of itself (continue-as-new, superseded).
                        iam.PolicyStatement(actions=["states:StartExecution"],
                                            resources=[recovery.arn])])
        self.long_tail = self._build_machine(
            "LongTail", long_tail, LONG_TAIL_MACHINE, sfn.StateMachineType.STANDARD,
            substitutions={**delivering, **parking},
            statements=[_invoke(functions.deliver, functions.record_failure, functions.hand_off),
                        *delivering_statements])
        self.notification = self._build_machine(
            "Notification", notification, NOTIFICATION_MACHINE, sfn.StateMachineType.EXPRESS,
            substitutions={**delivering, **parking, "LongTailStateMachineArn": long_tail.arn},
            statements=[
                _invoke(functions.deliver, functions.record_failure, functions.hand_off),
                *delivering_statements,
                # StartLongTail: fire and forget (no .sync, which Express does not support).
                iam.PolicyStatement(actions=["states:StartExecution"],
                                    resources=[long_tail.arn]),
            ])
        self.ingest = self._build_machine(
            "Ingest", ingest, INGEST_MACHINE, sfn.StateMachineType.EXPRESS,
            # FanOutPage: the function starts the notifications itself.
            substitutions={"IngestFunctionArn": functions.ingest.function_arn},
            statements=[_invoke(functions.ingest)])

    @property
    def all(self) -> list[sfn.StateMachine]:
        return [self.ingest, self.notification, self.long_tail, self.recovery]

    def _build_machine(self, construct_id: str, name: MachineName, machine: str,
                       machine_type: sfn.StateMachineType, substitutions: dict[str, str],
                       statements: list[iam.PolicyStatement]) -> sfn.StateMachine:
        role = iam.Role(self, f"{construct_id}Role",
                        assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                        description=f"Stepwire {machine} workflow")
        for statement in statements:
            role.add_to_policy(statement)
        # Vended-logs prefix: Step Functions' log delivery keeps one resource policy for them.
        log_group = logs.LogGroup(self, f"{construct_id}Logs",
                                  log_group_name=f"/aws/vendedlogs/states/{name.name}",
                                  retention=LOG_RETENTION, encryption_key=self._logs_key,
                                  removal_policy=RemovalPolicy.DESTROY)
        return sfn.StateMachine(
            self, construct_id,
            state_machine_name=name.name,
            state_machine_type=machine_type,
            definition_body=sfn.DefinitionBody.from_string(
                definition_text(machine, substitutions)),
            definition_substitutions=substitutions,
            role=role,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL,
                                include_execution_data=True),
        )


def _invoke(*functions: lambda_.IFunction) -> iam.PolicyStatement:
    # The definitions invoke the unqualified ARN: no version or alias wildcard is needed.
    return iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                               resources=[f.function_arn for f in functions])
