"""Where a notification goes when its execution cannot deliver it now.

- From the fast path (Express), after the attempts that fit in it: to the long tail (Standard)
  for the rest of the schedule, or parked if its endpoint's breaker is open.
- From either path, when the Deliver task found the breaker open: parked.
- From the fast path, when AWS kept failing its Deliver task (Stepwire's fault, no attempt
  counted): to the long tail, which keeps retrying with long waits until the retry window ends.

The workflows branch on the returned route. A parked notification waits in the table, not in
an execution; the endpoint's one recovery execution (named in its health item, started by the
workflow's next state: a repeat start of a running Standard execution is idempotent) releases
it later.
"""

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from workflows.delivery.executions import execution_arn
from workflows.kernel.ids import derived_name
from workflows.kernel.models import NotificationStatus, NotificationTarget, utc_now
from workflows.storage import Store


class Route(StrEnum):
    LONG_TAIL = "long_tail"  # a Standard execution of its own for the rest of the schedule
    PARK = "park"  # parked in the table; start (or join) the endpoint's recovery execution
    RETRY = "retry"  # (long tail) the breaker closed meanwhile: carry on with the schedule


class LiveRecovery(Protocol):
    """The endpoint's recovery to park under (workflows/recovery/liveness.py): `named`, or a
    new name recorded in its place when `named` has ended (failed, timed out, stopped)."""

    def live_name(self, tenant: str, subscription_id: str, named: str) -> str: ...


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
    # The retry window, in the workflow's seconds: the long tail dead-letters a notification
    # that AWS's faults kept from its receiver only once its waits add up to it.
    window_seconds: int


def hand_off(request: HandOffRequest, *, store: Store, window_seconds: int,
             recoveries: LiveRecovery | None = None) -> HandOff:
    """Park the notification if its endpoint's breaker is open, else send it on (and record
    the long-tail execution as the one in charge, before it makes its first attempt)."""
    target = request.notification
    parked = _park(request, store, window_seconds, recoveries)
    if parked is not None:
        return parked
    if request.long_tail_state_machine_arn is None:
        return HandOff(route=Route.RETRY, execution_name="", execution_arn="",
                       window_seconds=window_seconds)
    name = derived_name(target.execution_name, "tail")
    arn = execution_arn(request.long_tail_state_machine_arn, name)
    store.set_notification_status(target, NotificationStatus.DELIVERING, execution_arn=arn)
    return HandOff(route=Route.LONG_TAIL, execution_name=name, execution_arn=arn,
                   window_seconds=window_seconds)


def _park(request: HandOffRequest, store: Store, window_seconds: int,
          recoveries: LiveRecovery | None) -> HandOff | None:
    target = request.notification
    health = store.endpoint_health(target.tenant, target.subscription_id)
    if not health.is_open or health.recovery is None:
        return None
    recovery = health.recovery
    if recoveries is not None:  # an ended recovery is replaced, not trusted
        recovery = recoveries.live_name(target.tenant, target.subscription_id, recovery)
    since = store.event_accepted_at(target.tenant, target.event_id) or utc_now()
    if not store.park(target, recovery, since):
        return None  # closed meanwhile (or delivered): not parked
    return HandOff(route=Route.PARK, execution_name=recovery,
                   execution_arn=execution_arn(request.recovery_state_machine_arn, recovery),
                   window_seconds=window_seconds)
