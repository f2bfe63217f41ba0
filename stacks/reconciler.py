"""The reconciler's schedule and grants: an EventBridge rule invokes the Reconcile function
(lambdas/handle_reconcile.py) every `RECONCILE_EVERY_SECONDS`, the period the local runtime's
timer uses too (workflows/recovery/reconcile_rules.py).

A rule, not EventBridge Scheduler: a scheduled rule on the default bus costs nothing and needs
no role (the function's resource policy lets events.amazonaws.com invoke it). No retries: a
missed run is covered by the next, which starts from the same checkpoint.
"""

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from workflows.recovery.reconcile_rules import RECONCILE_EVERY_SECONDS


class Reconciler(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction,
                 table: dynamodb.ITable, index_arns: list[str], ingest_arn: str,
                 notification_arn: str, recovery_arn: str, standard_machines: list[str],
                 dead_letter_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        # The Standard machines whose executions it asks about (cdk-nag: stacks/nag.py).
        self.described_machines = standard_machines
        self.rule = events.Rule(
            self, "Schedule",
            description="Stepwire: the reconciler finishes what dead executions left behind",
            schedule=events.Schedule.rate(Duration.seconds(RECONCILE_EVERY_SECONDS)))
        self.rule.add_target(targets.LambdaFunction(function, retry_attempts=0))
        self._grant(function, table, index_arns, ingest_arn, notification_arn, recovery_arn,
                    standard_machines, dead_letter_queue)

    def _grant(self, function: lambda_.IFunction, table: dynamodb.ITable, index_arns: list[str],
               ingest_arn: str, notification_arn: str, recovery_arn: str,
               standard_machines: list[str], dead_letter_queue: sqs.IQueue) -> None:
        # Reads: the tenant registry, the checkpoint, restart markers, events and dead letters
        # by time (the index), each event's notification rows, endpoint health and the parked;
        # writes: the checkpoint, restarts (status, marker), queued dead letters, a recovery's
        # name. No secret: it never signs or delivers.
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem",
                     "dynamodb:UpdateItem"], resources=[table.table_arn]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=index_arns))
        # (a) the ingest workflow again, (b) a notification again, (c) a recovery.
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:StartExecution"],
            resources=[ingest_arn, notification_arn, recovery_arn]))
        # Whether a Standard execution (a long tail, a recovery) still runs; Express ones
        # cannot be asked.
        stack = Stack.of(self)
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution"],
            resources=[stack.format_arn(service="states", resource="execution",
                                        resource_name=f"{machine}:*",
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME)
                       for machine in standard_machines]))
        # (d) a dead letter the queue never got.
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn]))
