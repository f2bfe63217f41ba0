"""`/dead-letters`: list and redrive.
"""

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from workflows import wiring
from workflows.api.problems import (
    problem_response,
)
from workflows.api.resolver import (
    BAD_CURSOR,
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    route,
    tenant,
)
from workflows.auth.roles import Permission
from workflows.kernel import aws
from workflows.kernel.settings import get_settings
from workflows.operations import dead_letters


@route("GET", "/dead-letters", Permission.READ, responses=BAD_CURSOR,
       summary="List notifications that could not be delivered",
       description="Each says why it gave up (attempts, how long, the last error); filter by "
                   "`since` and `subscription_id`. Fix the endpoint, then redrive them.")
def list_dead_letters(
        since: Annotated[datetime | None, Query()] = None,
        subscription_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
) -> dead_letters.DeadLetterPage:
    return dead_letters.list_dead_letters(tenant(), limit, cursor,
                                          store=wiring.store(), codec=wiring.cursor_codec(),
                                          since=since, subscription_id=subscription_id)


@route("POST", "/dead-letters/redrive", Permission.REDRIVE, status_code=202,
       responses={400: problem_response("The body is not valid JSON")},
       summary="Deliver dead-lettered notifications again",
       description="Restarts up to 100 dead letters per call (all, or those `since` a time or "
                   "of one `subscription_id`); call again while `redriven` is 100.")
def redrive_dead_letters(
        request: Annotated[dead_letters.RedriveRequest | None, Body()] = None,
) -> dead_letters.RedriveResult:
    return dead_letters.redrive(
        tenant(), request or dead_letters.RedriveRequest(), store=wiring.store(),
        sfn=aws.client("stepfunctions"),
        notification_state_machine_arn=get_settings().notification_state_machine_arn)
