"""`stepwire local`: the whole platform in one process.

moto emulates DynamoDB, SQS, Secrets Manager, EventBridge and Step Functions (with its ASL
interpreter); the Lambda handlers run in process; the emulated APIs are served on the AWS port
for any AWS client, LocalStack-style.
"""

import logging
import os
import sys
import threading
from dataclasses import fields, replace
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from lambdas import (
    handle_api_request,
    handle_apply_tenant_limits,
    handle_authorize_request,
    handle_deliver_notification,
    handle_hand_off,
    handle_ingest_event,
    handle_ingress_event,
    handle_probe_endpoint,
    handle_record_failure,
    handle_release_parked,
)
from stepwire.config import LocalConfig, ensure_free
from stepwire.emulation import housekeeping, limits
from stepwire.emulation.aws_endpoint import refuse_unsupported
from stepwire.emulation.chaos import hooks as chaos
from stepwire.emulation.chaos.endpoint import chaos_middleware
from stepwire.emulation.cloudwatch import MetricsRecorder
from stepwire.emulation.dynamodb import backend, wire_answers
from stepwire.emulation.origin_guard import origin_guard
from stepwire.emulation.stepfunctions import clock, direct_calls, interpreter
from stepwire.gateway.api_gateway import Gateway
from stepwire.gateway.console_routes import LocalConsole
from stepwire.gateway.usage_plans import UsagePlanLimits
from stepwire.host.activity_log import ActivityPrinter, log_wait
from stepwire.host.admission import Admission
from stepwire.host.api_keys import restore_tenant_keys
from stepwire.host.ingress_queue import INGRESS_FUNCTION, IngressQueue
from stepwire.host.lambda_host import LambdaHost
from stepwire.host.provision import ACCOUNT_ID, TENANT_LIMITS_FUNCTION, Resources, provision
from stepwire.host.reconcile_timer import ReconcileTimer
from stepwire.state.durability import Durability
from stepwire.state.state_dir import StateDir
from workflows import wiring
from workflows.api.app import ROUTES
from workflows.auth.usage_plans import tiers_to_json
from workflows.kernel import activity, observability
from workflows.kernel.observability import logger

REGION = "us-east-1"
FUNCTIONS = {
    "IngestFunctionArn": ("stepwire-ingest", handle_ingest_event.lambda_handler),
    "DeliverFunctionArn": ("stepwire-deliver", handle_deliver_notification.lambda_handler),
    "RecordFailureFunctionArn": ("stepwire-record-failure", handle_record_failure.lambda_handler),
    "HandOffFunctionArn": ("stepwire-hand-off", handle_hand_off.lambda_handler),
    "ProbeEndpointFunctionArn": ("stepwire-probe-endpoint", handle_probe_endpoint.lambda_handler),
    "ReleaseParkedFunctionArn": ("stepwire-release-parked", handle_release_parked.lambda_handler),
}


class LocalRuntime:
    def __init__(self, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        self.lambdas = LambdaHost(ACCOUNT_ID, REGION)
        self.resources: Resources | None = None
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self.gateway: Gateway | None = None
        self._pruner = housekeeping.Pruner(self.config.keep_finished_executions,
                                     pack_after=self.config.pack_seconds)
        # The handlers' metric records, for the console's Health page (CloudWatch's part).
        self.metrics = MetricsRecorder()
        self.admission = Admission(self.config.workers, *self.config.delivery_caps)
        self._state_dir: StateDir | None = None
        self.durability: Durability | None = None

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self._aws_host}:{self.config.aws_port}"

    @property
    def _aws_host(self) -> str:
        return self.config.host if self.config.expose_aws_endpoint else "127.0.0.1"

    def client(self, service: str) -> Any:
        """An in-process client of the emulated APIs."""
        return boto3.client(service, region_name=REGION)

    def start(self) -> "LocalRuntime":
        """Start everything; PortInUse (before anything started) if a port is taken."""
        if self.config.state_dir is not None:  # first: a second instance must not bind ports
            self._state_dir = StateDir(self.config.state_dir).open()
        ensure_free(self._aws_host, self.config.aws_port, "--aws-port")
        ensure_free(self.config.host, self.config.api_port, "--api-port")
        # No X-Ray daemon here: the handlers' tracer stays off (and unimported).
        os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                           "POWERTOOLS_TRACE_DISABLED": "true"})
        observability.set_metrics_sink(self.metrics)
        if self.config.log_format is not None:
            activity.set_sink(ActivityPrinter(self.config.log_format))
            clock.on_wait(log_wait)
        # Handlers log every invocation at INFO in AWS; locally only warnings, unless asked.
        logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"))
        # Their lines (CloudWatch Logs in AWS) join the activity lines on stderr: stdout is the
        # banner alone, and whoever reads it may stop reading (a full pipe blocks every writer).
        handler = logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)  # Powertools logs to a stream
        handler.setStream(sys.stderr)
        self._mock.start()
        # Before any client exists: the fault hooks are registered on the clients made from now.
        chaos.start(self.config.aws_faults, self.config.aws_faults_seed,
                    announce=self.config.log_format is not None)
        self.lambdas.activate()
        housekeeping.quiet_logging()
        housekeeping.forget_model_objects()
        interpreter.fix_sfn_integration()
        backend.serialize_dynamodb()
        interpreter.serialize_literal_eval()
        limits.install()
        if self.config.optimize_engine:
            interpreter.speed_up()
            wire_answers.install()
            direct_calls.direct_calls(True)
        clock.set_time_scale(self.config.retry_time_scale)
        function_arns = {placeholder: self.lambdas.register(name, handler)
                         for placeholder, (name, handler) in FUNCTIONS.items()}
        self.lambdas.register(INGRESS_FUNCTION, handle_ingress_event.lambda_handler)
        self.lambdas.register(TENANT_LIMITS_FUNCTION, handle_apply_tenant_limits.lambda_handler)
        self.resources = provision(
            {s: self.client(s) for s in
             ("dynamodb", "sqs", "secretsmanager", "events", "stepfunctions", "apigateway")},
            function_arns, machines=self.config.machines,
            statemachines_dir=self.config.statemachines_dir, tiers=self.config.tenant_tiers())
        self.ingress = IngressQueue(
            self.client("sqs"), self.resources.ingress_queue_url,
            self.resources.ingress_dead_letter_queue_url, self.lambdas, self._stopping,
            self._ingress_taken, time_scale=self.config.retry_time_scale)
        if self._state_dir is not None:
            self._restore(self._state_dir)
        self.admission.start()
        self._configure_handlers(self.resources)
        if self.durability is not None:  # API Gateway's state is not kept: rebuilt from tenants
            restore_tenant_keys(wiring.store(), wiring.usage_plan_keys())
        self._serve_aws_endpoint()
        self._serve_api()
        self._start_thread("stepwire-ingress", self.ingress.poll)
        self._start_thread("stepwire-ingress-consumer", self.ingress.consume)
        self._pruner.start()
        if self.durability is not None:
            self.durability.resume(self.client("stepfunctions"))
        self.reconciler = ReconcileTimer(self.lambdas, self.resources, self.config).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.reconciler.stop()
        self._pruner.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self.admission.stop()
        if self.durability is not None:
            self.durability.deactivate()
        if self._state_dir is not None:
            self._state_dir.close()
        self.lambdas.deactivate()
        direct_calls.direct_calls(False)
        chaos.stop()
        self._mock.stop()
        observability.set_metrics_sink(None)
        activity.set_sink(None)
        clock.on_wait(None)
        wiring.reset()

    def __enter__(self) -> "LocalRuntime":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- wiring --------------------------------------------------------------------------

    def _restore(self, state_dir: StateDir) -> None:
        """What the last run left: loaded, replayed, journaled from here on."""
        assert self.resources is not None
        self.durability = Durability(state_dir, ACCOUNT_ID, REGION,
                                     self.resources.ingress_queue_url.rsplit("/", 1)[-1],
                                     checkpoint_seconds=self.config.checkpoint_seconds)
        renamed = self.durability.restore()
        changes: dict[str, Any] = {
            f.name: renamed[value] for f in fields(self.resources)
            if isinstance(value := getattr(self.resources, f.name), str) and value in renamed}
        self.resources = replace(self.resources, **changes)
        self.durability.activate()
        self.ingress.backlog.extend(self.durability.open_ingress.items())

    def _configure_handlers(self, resources: Resources) -> None:
        """The handlers read their settings from the environment, as in AWS."""
        os.environ.update({
            "STEPWIRE_TABLE_NAME": resources.table_name,
            "STEPWIRE_IDEMPOTENCY_TABLE_NAME": resources.idempotency_table_name,
            "STEPWIRE_DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "STEPWIRE_INGRESS_DEAD_LETTER_QUEUE_URL": resources.ingress_dead_letter_queue_url,
            "STEPWIRE_NOTIFICATION_STATE_MACHINE_ARN": resources.notification_state_machine_arn,
            # Absent from a pipeline hosted without one (`make cost` measures an earlier one).
            "STEPWIRE_RECOVERY_STATE_MACHINE_ARN": resources.recovery_state_machine_arn or "",
            "STEPWIRE_INGEST_STATE_MACHINE_ARN": resources.ingest_state_machine_arn,
            "STEPWIRE_DATA_KEY_SECRET_ID": resources.data_key_secret_id,
            "STEPWIRE_JWT_SECRET_ID": resources.jwt_secret_id,
            "STEPWIRE_ALLOW_PRIVATE_TARGETS": str(not self.config.deny_private_targets).lower(),
            "STEPWIRE_REQUIRE_HTTPS": "false",
            "STEPWIRE_CONNECT_TIMEOUT_SECONDS": str(self.config.connect_timeout),
            "STEPWIRE_REQUEST_TIMEOUT_SECONDS": str(self.config.request_timeout),
            # The breaker's own durations (auto-disable, retry window) follow the engine's.
            "STEPWIRE_TIME_SCALE": str(self.config.retry_time_scale),
            # Tenants' API keys in the tiers' usage plans provisioned here. The API's changes
            # of a tenant reach the authorizer at once (one process); `stepwire token
            # --tenant`'s registrations come from another: seen within 1 s (a read per request
            # would add 0.44 ms to each).
            "STEPWIRE_TENANT_LIMITS_FUNCTION_NAME": TENANT_LIMITS_FUNCTION,
            "STEPWIRE_TENANT_TIERS": tiers_to_json(self.config.tenant_tiers()),
            "STEPWIRE_API_USAGE_KEY_NAMESPACE": resources.usage_key_namespace,
            "STEPWIRE_TENANT_CACHE_SECONDS": "1",
        })
        os.environ.pop("STEPWIRE_AWS_ENDPOINT_URL", None)  # in process: moto answers directly
        wiring.reset()

    def _serve_aws_endpoint(self) -> None:
        app = origin_guard(chaos_middleware(refuse_unsupported(  # outermost: no web page
            self.lambdas.wsgi_middleware(DomainDispatcherApplication(create_backend_app)))),
            port=self.config.aws_port, check_host=not self.config.expose_aws_endpoint)
        self._server = make_server(self._aws_host, self.config.aws_port, app, threaded=True)
        self._start_thread("stepwire-aws-endpoint", self._server.serve_forever)

    def _serve_api(self) -> None:
        """The HTTP API: the local gateway in front of the authorizer and API handlers."""
        self.gateway = Gateway(handle_api_request.lambda_handler,
                               handle_authorize_request.lambda_handler, ROUTES,
                               usage_plans=UsagePlanLimits(self.client("apigateway")))
        self.gateway.mount(LocalConsole(self.client("stepfunctions"), self.metrics,
                                        host=self.config.host, port=self.config.api_port))
        self.gateway.start(self.config.host, self.config.api_port)

    def _start_thread(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _ingress_taken(self, message_id: str) -> None:
        if self.durability is not None:
            self.durability.ingress_started(message_id)
