"""Alarms to an SNS topic, and a dashboard of delivery success rate and end-to-end latency.

The delivery metrics are the handlers' own (namespace Stepwire, `workflows.kernel.observability`):
their names come from there, so a rename fails the infrastructure tests, not the dashboard.
"""

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constants import (
    API_P99_LATENCY_MS,
    DELIVERY_SUCCESS_RATE_MIN_PERCENT,
    DLQ_OLDEST_MESSAGE_AGE,
    END_TO_END_P99_MAX_MS,
    LONG_TAIL_FAILURES_THRESHOLD,
    NOTIFICATION_FAILURES_THRESHOLD,
    PARKED_BACKLOG_GROWTH,
    STACK_ID,
)
from workflows.kernel.observability import NAMESPACE, SERVICE, Metric, Outcome
from workflows.recovery.reconcile_finds import Kind

FIVE_MINUTES = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, ingest: sfn.StateMachine,
                 notification: sfn.StateMachine, long_tail: sfn.StateMachine,
                 recovery: sfn.StateMachine, queues: dict[str, sqs.IQueue],
                 functions: dict[str, lambda_.IFunction], api: apigw.RestApi,
                 alarm_email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._build_topic(alarm_email)
        self.alarms: list[cloudwatch.Alarm] = []
        self._build_workflow_alarms(ingest, notification, long_tail)
        # The recovery never fails by design (its task errors wait and retry): a failed one is
        # a bug; a later park or the reconciler starts a new one for its endpoint.
        self._alarm("RecoveryExecutionsFailed", recovery.metric_failed(period=FIVE_MINUTES), 1,
                    "An endpoint recovery execution failed: a new one replaces it")
        for name, machine in (("Ingest", ingest), ("Notification", notification),
                              ("LongTail", long_tail), ("Recovery", recovery)):
            self._build_execution_end_alarms(name, machine)
        self._build_delivery_alarms()
        for name, queue in queues.items():
            self._build_queue_alarms(name, queue)
        for name, function in functions.items():
            self._alarm(f"{name}Errors", function.metric_errors(period=FIVE_MINUTES), 1,
                        f"The {name} function raised errors")
            self._alarm(f"{name}Throttles", function.metric_throttles(period=FIVE_MINUTES), 1,
                        f"The {name} function was throttled")
        self._alarm("Api5xx", api.metric_server_error(period=FIVE_MINUTES), 5,
                    "The API answered 5xx")
        self._alarm("ApiLatencyP99", api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
                    API_P99_LATENCY_MS, "The API's p99 latency is high", evaluation_periods=3)
        self.dashboard = self._build_dashboard(ingest, notification, long_tail, queues, api)

    def _build_topic(self, alarm_email: str | None) -> sns.Topic:
        # CloudWatch can publish to an encrypted topic only with a customer managed key.
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True,
                      description="Stepwire: encrypts the alarm topic")
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                  "kms:Decrypt", "kms:GenerateDataKey")
        topic = sns.Topic(self, "AlarmTopic", display_name="Stepwire alarms", master_key=key,
                          enforce_ssl=True)
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    def _alarm(self, name: str, metric: cloudwatch.Metric | cloudwatch.MathExpression,
               threshold: float, description: str, evaluation_periods: int = 1,
               below: bool = False) -> cloudwatch.Alarm:
        comparison = (cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD if below else
                      cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
        alarm = metric.create_alarm(
            self, name, alarm_name=f"{STACK_ID}-{name}", alarm_description=description,
            threshold=threshold, evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _build_workflow_alarms(self, ingest: sfn.StateMachine, notification: sfn.StateMachine,
                               long_tail: sfn.StateMachine) -> None:
        # An ingest failure is a bug or an outage; notification failures are mostly dead
        # receivers (they are dead-lettered), so only a burst of them is alarming. Both paths
        # fail in their own machine: a permanent error in the fast one, an exhausted schedule
        # in the long tail.
        self._alarm("IngestExecutionsFailed", ingest.metric_failed(period=FIVE_MINUTES), 1,
                    "Ingest executions failed")
        self._alarm("NotificationExecutionsFailed",
                    notification.metric_failed(period=Duration.minutes(15)),
                    NOTIFICATION_FAILURES_THRESHOLD, "Many notifications failed (fast path)")
        self._alarm("LongTailExecutionsFailed",
                    long_tail.metric_failed(period=Duration.minutes(15)),
                    LONG_TAIL_FAILURES_THRESHOLD,
                    "Notifications failed after their whole retry schedule (long tail)")

    def _build_execution_end_alarms(self, name: str, machine: sfn.StateMachine) -> None:
        """Ends that no Catch sees: a timeout (an Express run past 5 minutes, a Standard past
        its TimeoutSeconds) and a stop leave the work to the reconciler; a throttled start
        means the machine's StartExecution quota is the bottleneck. Each is a fault survived
        at best, so one is enough to tell."""
        self._alarm(f"{name}ExecutionsTimedOut", machine.metric_timed_out(period=FIVE_MINUTES),
                    1, f"{name} executions timed out (no Catch sees it)")
        self._alarm(f"{name}ExecutionsAborted", machine.metric_aborted(period=FIVE_MINUTES), 1,
                    f"{name} executions were stopped")
        self._alarm(f"{name}ExecutionsThrottled", machine.metric_throttled(period=FIVE_MINUTES),
                    1, f"Starts of the {name} workflow were throttled")

    def _build_delivery_alarms(self) -> None:
        self._alarm("DeliverySuccessRateLow", _delivery_success_rate(),
                    DELIVERY_SUCCESS_RATE_MIN_PERCENT,
                    "The share of notifications delivered (not dead-lettered) is low",
                    evaluation_periods=3, below=True)
        self._alarm("EndToEndLatencyP99High",
                    _stepwire(Metric.END_TO_END_LATENCY, "p99"), END_TO_END_P99_MAX_MS,
                    "Accepted → delivered p99 is high", evaluation_periods=3)
        self._alarm("BreakerOpened", _stepwire(Metric.BREAKER_OPENED, "Sum"), 1,
                    "An endpoint's circuit breaker opened")
        # Each find is a fault survived (workflows/recovery/reconcile_finds.py): one is news.
        self._alarm("ReconcilerFound", _stepwire(Metric.RECONCILER_FOUND, "Sum"), 1,
                    "The reconciler finished what a dead execution left behind")
        growth = cloudwatch.MathExpression(
            expression="DIFF(parked)", label="Parked backlog growth", period=FIVE_MINUTES,
            using_metrics={"parked": _stepwire(Metric.PARKED_BACKLOG, "Maximum")})
        self._alarm("ParkedBacklogGrowing", growth, PARKED_BACKLOG_GROWTH,
                    "The parked backlog keeps growing", evaluation_periods=3)

    def _build_queue_alarms(self, name: str, queue: sqs.IQueue) -> None:
        self._alarm(f"{name}Depth",
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES), 1,
                    f"Messages are waiting in {name}")
        self._alarm(f"{name}OldestMessageAge",
                    queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES),
                    DLQ_OLDEST_MESSAGE_AGE.to_seconds(),
                    f"The oldest message in {name} is half-way to expiry")

    def _build_dashboard(self, ingest: sfn.StateMachine, notification: sfn.StateMachine,
                         long_tail: sfn.StateMachine, queues: dict[str, sqs.IQueue],
                         api: apigw.RestApi) -> cloudwatch.Dashboard:
        succeeded = notification.metric_succeeded(period=FIVE_MINUTES)
        failed = notification.metric_failed(period=FIVE_MINUTES)
        success_rate = cloudwatch.MathExpression(
            expression="100 * succeeded / (succeeded + failed)",
            using_metrics={"succeeded": succeeded, "failed": failed},
            label="Delivery success rate (%)", period=FIVE_MINUTES)
        latency = [notification.metric_time(period=FIVE_MINUTES, statistic=stat,
                                            label=f"Notification {stat} (ms)")
                   for stat in ("p50", "p90", "p99")]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=STACK_ID)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Delivery success rate", left=[success_rate],
                                   left_y_axis=cloudwatch.YAxisProps(min=0, max=100)),
            cloudwatch.GraphWidget(title="End-to-end latency (start to delivered)",
                                   left=latency),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Executions", left=[
                ingest.metric_started(period=FIVE_MINUTES, label="Ingest started"),
                notification.metric_started(period=FIVE_MINUTES, label="Notifications started"),
                long_tail.metric_started(period=FIVE_MINUTES, label="Handed to the long tail"),
                long_tail.metric_failed(period=FIVE_MINUTES, label="Long tail failed"),
                succeeded, failed]),
            cloudwatch.GraphWidget(title="Dead letters", left=[
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES,
                                                                    label=name)
                for name, queue in queues.items()]),
            cloudwatch.GraphWidget(title="API", left=[
                api.metric_count(period=FIVE_MINUTES), api.metric_server_error(
                    period=FIVE_MINUTES), api.metric_client_error(period=FIVE_MINUTES)],
                right=[api.metric_latency(period=FIVE_MINUTES, statistic="p99")]),
        )
        dashboard.add_widgets(*_delivery_widgets())
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(alarms=self.alarms, width=24))
        return dashboard


def _stepwire(metric: Metric, statistic: str, label: str | None = None,
              **dimensions: str) -> cloudwatch.Metric:
    """One of the handlers' metrics, as their EMF records name it."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric.value,
                             dimensions_map={"service": SERVICE, **dimensions},
                             statistic=statistic, period=FIVE_MINUTES, label=label)


def _delivery_success_rate() -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression="100 * delivered / (delivered + dead)", period=FIVE_MINUTES,
        label="Delivered ÷ (delivered + dead-lettered) (%)",
        using_metrics={"delivered": _stepwire(Metric.DELIVERED, "Sum"),
                       "dead": _stepwire(Metric.DEAD_LETTERED, "Sum")})


def _delivery_widgets() -> list[cloudwatch.IWidget]:
    first_attempt = _stepwire(Metric.FIRST_ATTEMPT_SUCCESS, "Average")
    return [
        cloudwatch.GraphWidget(
            title="Deliveries (Stepwire metrics)", left=[_delivery_success_rate()],
            right=[cloudwatch.MathExpression(expression="100 * first", label="First attempt "
                                             "succeeded (%)", period=FIVE_MINUTES,
                                             using_metrics={"first": first_attempt})],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100)),
        cloudwatch.GraphWidget(title="Attempts by outcome", stacked=True, left=[
            _stepwire(Metric.ATTEMPTS, "Sum", outcome.value, Outcome=outcome.value)
            for outcome in Outcome]),
        cloudwatch.GraphWidget(title="Attempt and end-to-end latency", left=[
            _stepwire(Metric.ATTEMPT_LATENCY, stat, f"Attempt {stat} (ms)")
            for stat in ("p50", "p90", "p99")], right=[
            _stepwire(Metric.END_TO_END_LATENCY, stat, f"Accepted → delivered {stat} (ms)")
            for stat in ("p50", "p99")]),
        cloudwatch.GraphWidget(title="Endpoint health and volume", left=[
            _stepwire(Metric.PARKED_BACKLOG, "Maximum", "Parked backlog"),
            _stepwire(Metric.BREAKER_OPENED, "Sum", "Breakers opened"),
            _stepwire(Metric.BREAKER_CLOSED, "Sum", "Breakers closed"),
            _stepwire(Metric.RATE_LIMITED_WAITS, "Sum", "Rate-limited waits")], right=[
            _stepwire(Metric.EVENTS_ACCEPTED, "Sum", "Events accepted"),
            _stepwire(Metric.DELIVERED, "Sum", "Delivered"),
            _stepwire(Metric.DEAD_LETTERED, "Sum", "Dead-lettered")]),
        cloudwatch.GraphWidget(title="Reconciler finds (faults survived)", stacked=True, left=[
            _stepwire(Metric.RECONCILER_FOUND, "Sum", kind.value, Kind=kind.value)
            for kind in Kind]),
    ]
