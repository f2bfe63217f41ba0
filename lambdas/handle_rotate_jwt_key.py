"""Secrets Manager rotation of the JWT signing key: one of the four steps per invocation."""

from typing import Any

from workflows.kernel import aws
from workflows.kernel.observability import logger, traced_handler
from workflows.secrets.key_rotation import rotate


@logger.inject_lambda_context(correlation_id_path="ClientRequestToken")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    logger.info("rotation step", extra={"step": event["Step"], "secret": event["SecretId"]})
    rotate(aws.client("secretsmanager"), event["SecretId"], event["ClientRequestToken"],
           event["Step"])
