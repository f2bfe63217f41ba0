"""EventBridge ingress: the `stepwire` bus and a rule that starts the ingest workflow."""

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constants import EVENT_BUS_NAME, INGRESS_MAX_EVENT_AGE, INGRESS_RETRY_ATTEMPTS


class Ingress(Construct):
    def __init__(self, scope: Construct, construct_id: str, *,
                 ingest_machine: sfn.IStateMachine, dead_letter_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=EVENT_BUS_NAME,
                                   description="Stepwire: DetailType is the event type")
        self.rule = events.Rule(
            self, "IngestRule", event_bus=self.bus,
            description="Every event on the Stepwire bus starts one ingest execution",
            # DetailType is the event type: every event that has one is an ingest request.
            event_pattern=events.EventPattern(detail_type=events.Match.exists()))
        # The input is the whole event: the ingest handler reads the EventBridge envelope.
        self.rule.add_target(targets.SfnStateMachine(
            ingest_machine,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=INGRESS_RETRY_ATTEMPTS,
            max_event_age=INGRESS_MAX_EVENT_AGE))
