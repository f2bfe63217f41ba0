"""Configuration, read from the environment (STEPWIRE_*) inside the handler, never at import."""

import re
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The default clock-skew leeway of JWTs and the most a deployment may set (jwt_leeway_seconds).
LEEWAY_SECONDS = 30
MAX_LEEWAY_SECONDS = 300
# A source the console's `frame-ancestors` may name: an https origin, a subdomain wildcard
# allowed under a name of two labels at least (https://app.example.com,
# https://*.example.com:8443; never https://*.com), no path.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HTTPS_ORIGIN = re.compile(
    rf"https://(?:\*\.{_LABEL}(?:\.{_LABEL})+|{_LABEL}(?:\.{_LABEL})*)(?::\d{{1,5}})?",
    re.IGNORECASE)


class Settings(BaseSettings):
    """Everything that differs between the cloud and the local runtime."""

    model_config = SettingsConfigDict(env_prefix="STEPWIRE_", frozen=True)

    table_name: str
    # Powertools Idempotency records of POST /events (workflows/operations/idempotency.py).
    idempotency_table_name: str
    dead_letter_queue_url: str
    # Events refused at the EventBridge ingress, with the reason (the API answers 4xx instead).
    ingress_dead_letter_queue_url: str = ""
    ingest_state_machine_arn: str
    notification_state_machine_arn: str
    # The endpoint recovery workflow: a re-enable starts it (workflows/recovery/handover.py).
    recovery_state_machine_arn: str
    # Symmetric key that encrypts subscription signing secrets at rest.
    data_key_secret_id: str
    jwt_secret_id: str
    # The cloud requires https and public targets; the local runtime relaxes both (and says so).
    allow_private_targets: bool = False
    require_https: bool = True
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    # A receiver's Retry-After is honoured up to this many seconds.
    retry_after_cap_seconds: int = Field(default=3600, ge=1)
    # Endpoint health (workflows/delivery/breaker.py). The breaker opens after this many
    # notifications in a row failed their first attempt with a retryable error (a 4xx of one
    # payload does not count, a 2xx resets the run).
    breaker_failure_threshold: int = Field(default=10, ge=2)
    # Only failures for this long (the breaker open all along) disables the subscription.
    auto_disable_after_seconds: int = Field(default=5 * 24 * 3600, ge=1)
    # A parked notification older than this (since the event was accepted) is dead-lettered:
    # the default schedule's 27 h 35 m, plus its jitter.
    retry_window_seconds: int = Field(default=119_166, ge=1)
    # Parked notifications released per second after an endpoint recovers.
    release_rate_per_second: int = Field(default=10, ge=1)
    # Continue-as-new: a recovery hands over to a fresh execution after this many release
    # batches, or sooner after 600 loops of any kind (workflows/recovery/outcomes.py: a
    # Standard history holds 25,000 events).
    recovery_batches_per_execution: int = Field(default=1000, ge=1, le=2000)
    # Locally, --retry-time-scale: the durations above are multiplied by it (1 in AWS).
    time_scale: float = Field(default=1.0, gt=0)
    # How long event records are kept (DynamoDB TTL).
    retention_days: int = Field(default=30, ge=1)
    # The HTTP API's tokens: issuer and audience of the HS256 tokens signed with jwt_secret_id
    # (its current and previous versions are accepted), optionally an external identity
    # provider's JWKS (RS256/ES256) with its own issuer.
    jwt_issuer: str = "stepwire"
    jwt_audience: str = "stepwire-api"
    jwt_jwks_url: str | None = None
    jwt_jwks_issuer: str | None = None
    jwt_key_cache_seconds: int = Field(default=60, ge=0)
    # Clock skew tolerated on `exp`, `iat` (and `nbf`): a token expired this many seconds ago
    # still passes. Small, so that an expired token stops working soon after.
    jwt_leeway_seconds: int = Field(default=LEEWAY_SECONDS, ge=0, le=MAX_LEEWAY_SECONDS)
    # The namespace of the tenants' API keys and usage plans (workflows/auth/usage_plans.py):
    # the stack's name in AWS.
    api_usage_key_namespace: str = Field(default="stepwire", min_length=1)
    # The tiers' limits as JSON ({name: {rate, burst, monthly_quota}}; empty: the defaults),
    # the same the usage plans were made with.
    tenant_tiers: str = ""
    # The function that puts a tenant's API key in its tier's usage plan; empty when tenant API
    # keys are off (then a tier is recorded and nothing is applied).
    tenant_limits_function_name: str = ""
    # How long the authorizer trusts what it read of a tenant's status (a suspension applies
    # within this plus API Gateway's cache of the authorizer's answer).
    tenant_cache_seconds: int = Field(default=30, ge=0, le=300)
    # The largest `data` of a published event (serialized JSON, bytes); above it the API says 413.
    max_event_data_bytes: int = Field(default=128 * 1024, ge=64 * 1024)
    # Who may frame the console (its CSP's `frame-ancestors`): 'none', or 'self' and https
    # origins, space separated, for a platform that embeds it as its customers' portal.
    console_frame_ancestors: str = "'none'"
    # Empty in AWS; the local runtime's endpoint for AWS clients in other processes.
    aws_endpoint_url: str | None = None
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")

    @field_validator("console_frame_ancestors")
    @classmethod
    def _frame_ancestors(cls, value: str) -> str:
        """Only sources a CSP reads as meant: a stray `;` would add a directive to it."""
        sources = value.split()
        if sources == ["'none'"]:
            return "'none'"
        wrong = [s for s in sources if s != "'self'" and not _HTTPS_ORIGIN.fullmatch(s)]
        if not sources or wrong:
            raise ValueError(f"console_frame_ancestors: {' '.join(wrong) or '(empty)'} is not "
                             "'none' (alone), 'self' or an https origin such as "
                             "https://app.example.com or https://*.example.com")
        return " ".join(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
