"""The hand-off from the fast path (Express) to the long tail (Standard).

After the attempts that fit in an Express execution, a notification that still fails is handed
to the long-tail workflow for the rest of the schedule. Where it goes is decided here, in one
place, and the workflow branches on the returned route: a later "park while the endpoint's
breaker is open" route is one more value here and one more Choice branch there.
"""

from enum import StrEnum

from pydantic import BaseModel

from workflows.executions import execution_arn
from workflows.ids import derived_name
from workflows.models import NotificationStatus, NotificationTarget
from workflows.storage import Store


class Route(StrEnum):
    LONG_TAIL = "long_tail"  # a Standard execution of its own for the rest of the schedule


class HandOffRequest(BaseModel):
    notification: NotificationTarget
    long_tail_state_machine_arn: str


class HandOff(BaseModel):
    route: Route
    # The long-tail execution's name: derived from the fast execution's, so a repeated fast
    # execution (Express runs at least once) starts the same, deduplicated, Standard one.
    execution_name: str
    execution_arn: str


def hand_off(request: HandOffRequest, *, store: Store) -> HandOff:
    """Decide where the notification goes now and record it (the long-tail execution is the
    one in charge from here, before it makes its first attempt)."""
    target = request.notification
    name = derived_name(target.execution_name, "tail")
    arn = execution_arn(request.long_tail_state_machine_arn, name)
    store.set_notification_status(target, NotificationStatus.DELIVERING, execution_arn=arn)
    return HandOff(route=Route.LONG_TAIL, execution_name=name, execution_arn=arn)
