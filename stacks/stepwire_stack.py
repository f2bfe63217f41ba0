"""The Stepwire stack: composes one construct per concern and wires their grants."""

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import functions as fn
from stacks.api import Api
from stacks.constants import (
    ENDPOINT_HEALTH_SETTINGS,
    INGEST_MACHINE,
    LONG_TAIL_MACHINE,
    NOTIFICATION_MACHINE,
    RECOVERY_MACHINE,
)
from stacks.functions import Functions, stepwire_environment
from stacks.ingress import Ingress, Producer
from stacks.log_encryption import LogEncryption
from stacks.monitoring import Monitoring
from stacks.queues import Queues
from stacks.reconciler import Reconciler
from stacks.secrets import Secrets
from stacks.state_machines import MachineName, StateMachines, WorkflowFunctions
from stacks.storage import Storage
from stacks.tenant_limits import TenantApiLimits, usage_plan_statements
from stacks.waf import Waf
from workflows.auth.usage_plans import DEFAULT_TIERS, Tier, tiers_to_json
from workflows.kernel.settings import Settings

# What the Store does on the table (workflows/storage/). TransactWriteItems is no IAM action:
# a transaction is authorized by the Put/Update/ConditionCheck actions it contains.
TABLE_DATA_ACTIONS = [
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query", "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
]
# What Powertools Idempotency does on its table (POST /events with a key or an id).
IDEMPOTENCY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                       "dynamodb:DeleteItem"]


class StepwireStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *,
                 alarm_email: str | None = None, require_tenant_api_keys: bool = True,
                 tiers: dict[str, Tier] | None = None,
                 console_frame_ancestors: str = "'none'",
                 producers: tuple[Producer, ...] = (),
                 endpoint_health: dict[str, object] | None = None,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        endpoint_health = endpoint_health or {}
        tiers = tiers or dict(DEFAULT_TIERS)
        unknown = sorted(set(endpoint_health) - set(ENDPOINT_HEALTH_SETTINGS))
        if unknown:
            raise ValueError(f"stepwire:endpointHealth: unknown {', '.join(unknown)} "
                             f"(known: {', '.join(ENDPOINT_HEALTH_SETTINGS)})")
        self.storage = Storage(self, "Storage")
        self.queues = Queues(self, "Queues")
        self.secrets = Secrets(self, "Secrets")
        self.log_encryption = LogEncryption(self, "LogEncryption")
        ingest = MachineName.of(self, INGEST_MACHINE)
        notification = MachineName.of(self, NOTIFICATION_MACHINE)
        long_tail = MachineName.of(self, LONG_TAIL_MACHINE)
        recovery = MachineName.of(self, RECOVERY_MACHINE)
        shared_settings: dict[str, object] = {
            "table_name": self.storage.table.table_name,
            "idempotency_table_name": self.storage.idempotency_table.table_name,
            "dead_letter_queue_url": self.queues.dead_letter_queue.queue_url,
            "ingress_dead_letter_queue_url":
                self.queues.ingress_dead_letter_queue.queue_url,
            "ingest_state_machine_arn": ingest.arn,
            "notification_state_machine_arn": notification.arn,
            "recovery_state_machine_arn": recovery.arn,
            "data_key_secret_id": self.secrets.data_key.secret_arn,
            "jwt_secret_id": self.secrets.jwt_signing_key.secret_arn,
            "api_usage_key_namespace": self.stack_name,
            "tenant_tiers": tiers_to_json(tiers),
            "require_https": True,
            "allow_private_targets": False,
            **endpoint_health,
        }
        # Without tenant API keys nothing is applied to usage plans: no tenant-limits function.
        self.functions = Functions(
            self, "Functions", environment=stepwire_environment(shared_settings),
            logs_key=self.log_encryption.key,
            specs=fn.ALL_FUNCTIONS if require_tenant_api_keys else tuple(
                spec for spec in fn.ALL_FUNCTIONS if spec is not fn.TENANT_LIMITS))
        self.state_machines = StateMachines(
            self, "Workflows", ingest=ingest, notification=notification, long_tail=long_tail,
            recovery=recovery,
            functions=WorkflowFunctions(
                ingest=self.functions[fn.INGEST], deliver=self.functions[fn.DELIVER],
                record_failure=self.functions[fn.RECORD_FAILURE],
                hand_off=self.functions[fn.HAND_OFF],
                probe_endpoint=self.functions[fn.PROBE_ENDPOINT],
                release_parked=self.functions[fn.RELEASE_PARKED]),
            table=self.storage.table, dead_letter_queue=self.queues.dead_letter_queue,
            logs_key=self.log_encryption.key)
        self._grant_functions(ingest, notification, recovery)
        seed = self.secrets.seed_keys(self.functions[fn.SEED_SECRET_KEYS])
        self.secrets.rotate_jwt_signing_key(self.functions[fn.ROTATE_JWT_KEY], after=seed)
        self.api = Api(self, "Api", handler=self.functions[fn.API],
                       authorizer=self.functions[fn.AUTHORIZER],
                       require_tenant_api_keys=require_tenant_api_keys,
                       logs_key=self.log_encryption.key, tiers=tiers)
        self.tenant_limits = TenantApiLimits(
            self, "TenantLimits", api=self.api.rest_api, namespace=self.stack_name,
            tiers=tiers) if require_tenant_api_keys else None
        self._configure_api_function(shared_settings, console_frame_ancestors)
        self.waf = Waf(self, "Waf", stage_arn=self.api.stage.stage_arn, tiers=tiers)
        self.ingress = Ingress(self, "Ingress", consumer=self.functions[fn.INGRESS],
                               dead_letter_queue=self.queues.ingress_dead_letter_queue,
                               producers=producers)
        self.reconciler = Reconciler(
            self, "Reconciler", function=self.functions[fn.RECONCILE],
            table=self.storage.table, index_arns=self.storage.index_arns(),
            ingest_arn=ingest.arn, notification_arn=notification.arn, recovery_arn=recovery.arn,
            standard_machines=[long_tail.name, recovery.name],
            dead_letter_queue=self.queues.dead_letter_queue)
        self.monitoring = Monitoring(
            self, "Monitoring", ingest=self.state_machines.ingest,
            notification=self.state_machines.notification,
            long_tail=self.state_machines.long_tail, recovery=self.state_machines.recovery,
            queues={"DeadLetterQueue": self.queues.dead_letter_queue,
                    "IngressDeadLetterQueue": self.queues.ingress_dead_letter_queue},
            functions=dict(self.functions.by_name), api=self.api.rest_api,
            alarm_email=alarm_email)
        self._build_outputs()

    def _configure_api_function(self, shared_settings: dict[str, object],
                                console_frame_ancestors: str) -> None:
        """The API's own settings, and what the operator's routes need: the tenant-limits
        function, invoked and waited for (only that function), and the signing key for the
        tokens it issues (POST /tenants/{id}/tokens)."""
        api = self.functions[fn.API]
        own: dict[str, object] = {"console_frame_ancestors": console_frame_ancestors}
        if fn.TENANT_LIMITS.name in self.functions.by_name:
            limits = self.functions[fn.TENANT_LIMITS]
            own["tenant_limits_function_name"] = limits.function_name
            api.add_to_role_policy(iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[limits.function_arn]))
            assert self.tenant_limits is not None  # the function exists with the plans
            collections, within_plans = usage_plan_statements(
                self, list(self.tenant_limits.plans.values()))
            for statement in collections:
                limits.add_to_role_policy(statement)
            # The tier plans' ids in a policy of its own: the function finds the plans by name
            # and does not wait for this policy, so the API (which the plans are on) does not
            # wait for the function that it invokes: no cycle.
            assert limits.role is not None
            self.tenant_limits_plan_keys = iam.Policy(
                self, "TenantLimitsPlanKeys", roles=[limits.role], statements=within_plans)
        variables = stepwire_environment({**shared_settings, **own})
        for name in (f"{Settings.model_config['env_prefix']}{field.upper()}" for field in own):
            api.add_environment(name, variables[name])
        api.add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"],
            resources=[self.secrets.jwt_signing_key.secret_arn]))

    def _build_outputs(self) -> None:
        defaults = Settings.model_fields
        for name, value, description in (
            ("ApiUrl", self.api.rest_api.url, "The API's base URL (…/v1/); the console is at "
             "console/ under it"),
            ("JwtSecretArn", self.secrets.jwt_signing_key.secret_arn,
             "Sign API tokens with its AWSCURRENT version (kid = VersionId): "
             "stepwire token --stack reads it"),
            ("JwtIssuer", str(defaults["jwt_issuer"].default), "The tokens' iss"),
            ("JwtAudience", str(defaults["jwt_audience"].default), "The tokens' aud"),
            ("EventBusName", self.ingress.bus.event_bus_name, "PutEvents here to publish"),
            ("DeadLetterQueueUrl", self.queues.dead_letter_queue.queue_url,
             "Failed notifications"),
            ("IngressDeadLetterQueueUrl", self.queues.ingress_dead_letter_queue.queue_url,
             "Events the ingest refused (with the reason) or the bus could not hand over"),
            ("AlarmTopicArn", self.monitoring.topic.topic_arn, "Subscribe to get the alarms"),
            ("TableName", self.storage.table.table_name, "Events, subscriptions, attempts"),
        ):
            CfnOutput(self, name, value=value, description=description)

    def _grant_functions(self, ingest: MachineName, notification: MachineName,
                         recovery: MachineName) -> None:
        table = self.storage.table
        table_data = iam.PolicyStatement(
            actions=TABLE_DATA_ACTIONS,
            resources=[table.table_arn, *self.storage.index_arns()])
        data_key = iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                       resources=[self.secrets.data_key.secret_arn])
        for spec in (fn.INGEST, fn.INGRESS, fn.DELIVER, fn.RECORD_FAILURE, fn.PROBE_ENDPOINT,
                     fn.RELEASE_PARKED, fn.API):
            self.functions[spec].add_to_role_policy(table_data)
        # Decrypting signing secrets (deliver, and the probe's delivery), encrypting them and
        # page cursors (api).
        for spec in (fn.DELIVER, fn.PROBE_ENDPOINT, fn.API):
            self.functions[spec].add_to_role_policy(data_key)
        # HandOff records which long-tail execution is in charge (UpdateItem), or parks the
        # notification: it reads the endpoint's health and the event's time (GetItem), then
        # one transaction (ConditionCheck on the breaker, Update, Put).
        self.functions[fn.HAND_OFF].add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem",
                     "dynamodb:ConditionCheckItem"], resources=[table.table_arn]))
        # An acceptance (the API's POST /events, the EventBridge consumer) fans out the first
        # page and starts the ingest workflow for the rest; each of its pages starts the
        # notifications it creates.
        # (and, past its pages per run, the ingest run that walks the rest).
        self.functions[fn.INGEST].add_to_role_policy(iam.PolicyStatement(
            actions=["states:StartExecution"], resources=[ingest.arn, notification.arn]))
        self.functions[fn.INGRESS].add_to_role_policy(iam.PolicyStatement(
            actions=["states:StartExecution"], resources=[ingest.arn, notification.arn]))
        # A refused EventBridge event goes to the ingress DLQ with the reason.
        self.functions[fn.INGRESS].add_to_role_policy(iam.PolicyStatement(
            actions=["sqs:SendMessage"],
            resources=[self.queues.ingress_dead_letter_queue.queue_arn]))
        # Released parked notifications restart as new fast executions.
        self.functions[fn.RELEASE_PARKED].add_to_role_policy(iam.PolicyStatement(
            actions=["states:StartExecution"], resources=[notification.arn]))
        # Whoever joins an endpoint's recovery asks whether it still runs (an ended one is
        # replaced: workflows/recovery/liveness.py); the probe dead-letters expired
        # notifications itself, in batches.
        recovery_executions = self.format_arn(
            service="states", resource="execution", resource_name=f"{recovery.name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME)
        for spec in (fn.HAND_OFF, fn.PROBE_ENDPOINT, fn.RELEASE_PARKED):
            self.functions[spec].add_to_role_policy(iam.PolicyStatement(
                actions=["states:DescribeExecution"], resources=[recovery_executions]))
        self.functions[fn.PROBE_ENDPOINT].add_to_role_policy(iam.PolicyStatement(
            actions=["sqs:SendMessage"], resources=[self.queues.dead_letter_queue.queue_arn]))
        self.functions[fn.AUTHORIZER].add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue"],
            resources=[self.secrets.jwt_signing_key.secret_arn]))
        # Revoked tokens are refused: one read of the token's revocation items (no index).
        # and the tenant's record is read (active, suspended, unregistered).
        self.functions[fn.AUTHORIZER].add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:BatchGetItem", "dynamodb:GetItem"], resources=[table.table_arn]))
        api = self.functions[fn.API]
        # POST /events fans out (see above); replay and redrive start notifications; a
        # re-enable starts a new recovery of the endpoint (the old one ends itself).
        api.add_to_role_policy(iam.PolicyStatement(
            actions=["states:StartExecution"],
            resources=[ingest.arn, notification.arn, recovery.arn]))
        api.add_to_role_policy(iam.PolicyStatement(
            actions=IDEMPOTENCY_ACTIONS,
            resources=[self.storage.idempotency_table.table_arn]))
