"""Names, paths and sizes of the cloud deployment, in one place."""

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_logs as logs

REPO_ROOT = Path(__file__).resolve().parents[1]
STATEMACHINES_DIR = REPO_ROOT / "statemachines"
PYPROJECT = REPO_ROOT / "pyproject.toml"

STACK_ID = "Stepwire"
SERVICE_NAME = "stepwire"
# The contract names the bus (docs/architecture.md, "One event, from `POST /events`").
EVENT_BUS_NAME = "stepwire"

# Context values (cdk.json or `cdk synth -c key=value`).
CONTEXT_ALARM_EMAIL = "stepwire:alarmEmail"
# "false" turns the per-tenant API limits off (the stage-wide throttle alone applies).
CONTEXT_TENANT_API_KEYS = "stepwire:requireTenantApiKeys"
# {"standard": {"rate": 20, "burst": 40, "monthly_quota": 1000000}, ...}: one usage plan per
# tier (workflows/auth/usage_plans.py: DEFAULT_TIERS when unset; `standard` is required).
CONTEXT_TIERS = "stepwire:tiers"
# Removed: tenants are records made at run time (POST /tenants); synth refuses a value.
REMOVED_CONTEXT_TENANTS = "stepwire:tenants"
# Who may frame the console ("'none'", or "'self'" and https origins): its CSP's
# frame-ancestors (Settings.console_frame_ancestors).
CONTEXT_CONSOLE_FRAME_ANCESTORS = "stepwire:consoleFrameAncestors"
# [{"principal": account id or role ARN, "tenants": [...]}]: outside EventBridge producers.
CONTEXT_EVENT_PRODUCERS = "stepwire:eventProducers"
# {"Deliver": 700, "Api": 50, ...}: reserved concurrency per function (stacks/functions.py),
# null or 0 for none; checked against the account's concurrency quota (default 1,000).
CONTEXT_RESERVED_CONCURRENCY = "stepwire:reservedConcurrency"
CONTEXT_ACCOUNT_CONCURRENCY = "stepwire:accountConcurrency"
# Endpoint-health parameters, e.g. {"breaker_failure_threshold": 20}: Settings field names.
CONTEXT_ENDPOINT_HEALTH = "stepwire:endpointHealth"
ENDPOINT_HEALTH_SETTINGS = ("breaker_failure_threshold", "auto_disable_after_seconds",
                            "retry_window_seconds", "release_rate_per_second",
                            "recovery_batches_per_execution")

# Lambda: one runtime and one architecture, matched by the bundled wheels and the layer.
PYTHON_VERSION = "3.12"
PIP_PLATFORM = "manylinux2014_x86_64"
# Wheel tags the bundled packages may carry (pure Python or CPython 3.12 on Linux x86_64).
ALLOWED_WHEEL_PLATFORM_PREFIXES = ("manylinux", "musllinux")
# The public SSM parameter Powertools publishes per release: the layer ARN of that version.
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/x86_64/python{python}/{version}"
# Provided by the Lambda runtime (boto3) or by the Powertools layer: never bundled.
NOT_BUNDLED = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "aws-lambda-powertools"})

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
DLQ_RETENTION = Duration.days(14)
INGRESS_RETRY_ATTEMPTS = 185
INGRESS_MAX_EVENT_AGE = Duration.hours(24)

# State machines: names are derived from the stack name so that the functions' environment
# can carry their ARNs without a dependency cycle (the definitions name the functions).
INGEST_MACHINE = "ingest"
NOTIFICATION_MACHINE = "notification"
LONG_TAIL_MACHINE = "long-tail"
RECOVERY_MACHINE = "recovery"

# API Gateway.
API_STAGE_NAME = "v1"
# The whole stage's throttle (stacks/tenant_limits.py, `stage_throttle`): tenants are made at
# run time, so no sum of their plans exists at deploy; the stage gets the ceiling, API
# Gateway's account quota per Region (10,000 requests/s, bursts of 5,000) unless
# {"rate": N, "burst": M} in this context value says otherwise. Each tenant's own bucket is
# its tier's usage plan.
CONTEXT_STAGE_THROTTLE_CEILING = "stepwire:stageThrottleCeiling"
STAGE_THROTTLE_CEILING = (10_000, 5_000)
# /health, /openapi.json and /docs: requests without a token, all together (the WAF's
# RateLimitWithoutToken).
PUBLIC_ROUTES_THROTTLE = (10, 20)
# The console's files (11 a load, no token) are the customer portal's: their own budget, so
# the portal's users do not spend the public routes' one (RateLimitConsoleFiles, per second).
CONSOLE_FILES_RATE = 100
# The authorizer's Allow covers the whole API, so a decision is cached per token.
AUTHORIZER_CACHE_TTL = Duration.minutes(5)

# WAF rate rules (stacks/waf.py) count requests per window of this many seconds. One IP
# address may send what the largest tier's plan allows in it; one without an Authorization
# header far less; all those without one together, what the stage keeps for public routes.
WAF_WINDOW_SECONDS = 300
WAF_UNAUTHENTICATED_PER_IP = 300  # 1/s on average: a console load is about 20 files
# A refused client is told to wait this long (429 Retry-After): WAF looks at the window again
# every few seconds, and a client back under the limit is let through.
WAF_RETRY_AFTER_SECONDS = 60

# Secrets.
JWT_ROTATION_INTERVAL = Duration.days(30)

# Alarms.
API_P99_LATENCY_MS = 3000
NOTIFICATION_FAILURES_THRESHOLD = 10
# Long-tail executions fail only after the whole schedule: each is a dead letter.
LONG_TAIL_FAILURES_THRESHOLD = 5
DLQ_OLDEST_MESSAGE_AGE = Duration.days(7)
# Delivery metrics (namespace Stepwire), each over three 5-minute periods.
DELIVERY_SUCCESS_RATE_MIN_PERCENT = 95
END_TO_END_P99_MAX_MS = 60_000  # the first attempts run within a minute when endpoints answer
PARKED_BACKLOG_GROWTH = 100  # notifications parked more per 5 minutes than 5 minutes before
