"""Where a notification goes when its execution cannot deliver it now.

- From the fast path (Express), after the attempts that fit in it: to the long tail (Standard)
  for the rest of the schedule, or parked if its endpoint's breaker is open.
- From either path, when the Deliver task found the breaker open: parked.

The workflows branch on the returned route. A parked notification waits in the table, not in
an execution; the endpoint's one recovery execution (named in its health item, started by the
workflow's next state: a repeat start of a running Standard execution is idempotent) releases
it later.
"""

from enum import StrEnum

from pydantic import BaseModel

from workflows.delivery.executions import execution_arn
from workflows.kernel.ids import derived_name
from workflows.kernel.models import NotificationStatus, NotificationTarget, utc_now
from workflows.storage import Store


class Route(StrEnum):
    LONG_TAIL = "long_tail"  # a Standard execution of its own for the rest of the schedule
    PARK = "park"  # parked in the table; start (or join) the endpoint's recovery execution
    RETRY = "retry"  # (long tail) the breaker closed meanwhile: carry on with the schedule


class HandOffRequest(BaseModel):
    notification: NotificationTarget
    recovery_state_machine_arn: str
    # Only from the fast path: the long tail is where it goes if not parked.
    long_tail_state_machine_arn: str | None = None


class HandOff(BaseModel):
    route: Route
    # The execution to start next (long tail or recovery): derived or recorded names, so a
    # repeated execution (Express runs at least once) starts nothing new.
    execution_name: str
    execution_arn: str


def hand_off(request: HandOffRequest, *, store: Store) -> HandOff:
    """Park the notification if its endpoint's breaker is open, else send it on (and record
    the long-tail execution as the one in charge, before it makes its first attempt)."""
    target = request.notification
    parked = _park(request, store)
    if parked is not None:
        return parked
    if request.long_tail_state_machine_arn is None:
        return HandOff(route=Route.RETRY, execution_name="", execution_arn="")
    name = derived_name(target.execution_name, "tail")
    arn = execution_arn(request.long_tail_state_machine_arn, name)
    store.set_notification_status(target, NotificationStatus.DELIVERING, execution_arn=arn)
    return HandOff(route=Route.LONG_TAIL, execution_name=name, execution_arn=arn)


def _park(request: HandOffRequest, store: Store) -> HandOff | None:
    target = request.notification
    health = store.endpoint_health(target.tenant, target.subscription_id)
    if not health.is_open or health.recovery is None:
        return None
    since = store.event_accepted_at(target.tenant, target.event_id) or utc_now()
    if not store.park(target, health.recovery, since):
        return None  # closed meanwhile (or delivered): not parked
    return HandOff(route=Route.PARK, execution_name=health.recovery,
                   execution_arn=execution_arn(request.recovery_state_machine_arn,
                                               health.recovery))
