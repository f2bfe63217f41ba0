"""Idempotent publishing: the same key and body return the first answer; another body is an
error naming the key. Powertools Idempotency on its own table (the key is scoped to the tenant).

Express executions are not deduplicated by name and have no DescribeExecution, so the answer to
a repeat comes from here, not from Step Functions.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from workflows.kernel.errors import StepwireError
from workflows.storage import table

# Svix keeps keys 12 h, Stripe 24 h. Past this, a repeat still delivers nothing (the event id is
# derived from the key and stored once), but it is answered as a new request.
KEY_LIFETIME_SECONDS = 24 * 3600


class IdempotencyKeyReused(StepwireError):
    """The key was first used with another request body (HTTP 422)."""

    error_name = "Api.IdempotencyKeyReused"


class IdempotencyKeyInProgress(StepwireError):
    """A request with this key is still being processed (HTTP 409: retry later)."""

    error_name = "Api.IdempotencyKeyInProgress"


class Idempotency:
    def __init__(self, client: Any, table_name: str) -> None:
        self.config = IdempotencyConfig(event_key_jmespath="[tenant, key]",
                                        payload_validation_jmespath="request",
                                        raise_on_no_idempotency_key=True,
                                        expires_after_seconds=KEY_LIFETIME_SECONDS)
        self._persistence = DynamoDBPersistenceLayer(
            table_name=table_name, key_attr=table.IDEMPOTENCY_KEY,
            expiry_attr=table.IDEMPOTENCY_TTL_ATTRIBUTE, boto3_client=client)

    def once(self, tenant: str, key: str, request: dict[str, Any],
             action: Callable[[], dict[str, Any]], *, key_name: str) -> dict[str, Any]:
        """`action()`'s answer, computed once per tenant and key; `key_name` names the key in
        errors ("Idempotency-Key", "id")."""

        @idempotent_function(data_keyword_argument="call", config=self.config,
                             persistence_store=self._persistence)
        def publish_once(call: dict[str, Any]) -> dict[str, Any]:
            return action()

        try:
            return publish_once(call={"tenant": tenant, "key": key, "request": request})
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                f"the {key_name} '{key}' was already used with a different request body; "
                "use a new key for a new event") from None
        except IdempotencyAlreadyInProgressError:
            raise IdempotencyKeyInProgress(
                f"a request with the {key_name} '{key}' is still in progress; retry it "
                "shortly") from None
