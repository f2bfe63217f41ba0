"""EventBridge ingress: the `stepwire` bus, a rule that puts every event on the ingress queue
(durable: an event on the bus is never held only by a running execution), and the queue's
consumer, which stores each event and fans it out as the API does (workflows/ingest/).

Who may publish: principals of the stack's own account whose IAM policies allow PutEvents on
the bus (the operator's services, trusted with every tenant), and the producers listed in the
`stepwire:eventProducers` context, each bound to its tenants: the bus policy lets it put only
the sources `tenant.<tenant>` of its own tenants, and the consumer refuses an event whose
`detail.tenant` differs from its `tenant.` source (workflows/ingest/accept.py).
"""

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constants import EVENT_BUS_NAME, INGRESS_MAX_EVENT_AGE, INGRESS_RETRY_ATTEMPTS
from workflows.ingest import eventbridge
from workflows.ingest.accept import TENANT_SOURCE_PREFIX


@dataclass(frozen=True)
class Producer:
    """An outside principal (account or role ARN) that may publish for these tenants only."""

    principal: str
    tenants: tuple[str, ...]

    @classmethod
    def of(cls, value: dict) -> "Producer":
        tenants = tuple(value.get("tenants") or ())
        if not value.get("principal") or not tenants:
            raise ValueError("every stepwire:eventProducers entry needs a principal and tenants")
        return cls(principal=value["principal"], tenants=tenants)

    @property
    def sources(self) -> list[str]:
        return [f"{TENANT_SOURCE_PREFIX}{tenant}" for tenant in self.tenants]


# Batches of one consumer at once: within its reserved concurrency (stacks/functions.py).
INGRESS_POLLERS = 20


class Ingress(Construct):
    def __init__(self, scope: Construct, construct_id: str, *,
                 consumer: lambda_.IFunction, dead_letter_queue: sqs.IQueue,
                 producers: tuple[Producer, ...] = ()) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=EVENT_BUS_NAME,
                                   description="Stepwire: DetailType is the event type")
        for index, producer in enumerate(producers):
            self._allow_producer(index, producer)
        self.rule = events.Rule(
            self, "IngestRule", event_bus=self.bus,
            description="Every event on the Stepwire bus goes to the ingress queue",
            # DetailType is the event type: every event that has one is an ingest request.
            event_pattern=events.EventPattern(detail_type=events.Match.exists()))
        self.queue = sqs.Queue(
            self, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            # Six times the consumer's timeout, as Lambda advises for an SQS event source.
            visibility_timeout=Duration.seconds(eventbridge.VISIBILITY_SECONDS),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=eventbridge.MAX_RECEIVES,
                                                  queue=dead_letter_queue))
        # The message is the whole event: the consumer reads the EventBridge envelope.
        self.rule.add_target(targets.SqsQueue(
            self.queue,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=INGRESS_RETRY_ATTEMPTS,
            max_event_age=INGRESS_MAX_EVENT_AGE))
        consumer.add_event_source(sources.SqsEventSource(
            self.queue, batch_size=10, report_batch_item_failures=True,
            max_concurrency=INGRESS_POLLERS))

    def _allow_producer(self, index: int, producer: Producer) -> None:
        principal = (iam.AccountPrincipal(producer.principal) if producer.principal.isdigit()
                     else iam.ArnPrincipal(producer.principal))
        self.bus.add_to_resource_policy(iam.PolicyStatement(
            sid=f"Producer{index}PublishesForItsTenants",
            principals=[principal], actions=["events:PutEvents"],
            resources=[self.bus.event_bus_arn],
            conditions={"StringEquals": {"events:source": producer.sources}}))
