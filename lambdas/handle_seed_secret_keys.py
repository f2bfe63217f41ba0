"""CloudFormation custom resource: gives the deployment's secrets their first random keys."""

from typing import Any

from workflows.kernel import aws
from workflows.kernel.observability import logger, traced_handler
from workflows.secrets.custom_resource import FAILED, SUCCESS, respond
from workflows.secrets.key_rotation import seed_keys


@logger.inject_lambda_context(correlation_id_path="RequestId")
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    log_stream = getattr(context, "log_stream_name", "")
    try:
        seeded: list[str] = []
        if event["RequestType"] in ("Create", "Update"):
            seeded = seed_keys(aws.client("secretsmanager"),
                               event["ResourceProperties"]["SecretIds"])
        logger.info("secrets seeded", extra={"request": event["RequestType"], "seeded": seeded})
    except Exception as exc:  # CloudFormation must hear of every failure
        logger.exception("seeding failed")
        respond(event, log_stream, FAILED, reason=str(exc))
        return
    respond(event, log_stream, SUCCESS, data={"Seeded": str(len(seeded))})
