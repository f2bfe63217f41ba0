"""What the recovery workflow's tasks answer, and the bound on one execution's history.

A Standard execution fails at 25,000 history events (`States.Runtime`), so a recovery that
loops for days hands over to a fresh execution of itself (continue-as-new) long before.
Every pass back to `Probe` or `Release` is one loop, counted in the state (`loops`) by the
workflow's counting Pass states. A loop is at most 29 events: its Task (5, plus 3 per retry,
6 retries at most: 23), a Choice or Pass (2), a counting Pass (2), a Wait (2); 11 without
retries. 600 loops are at most 17,400 events and about 6,600 in practice.
"""

from enum import StrEnum

from pydantic import BaseModel

HISTORY_EVENTS_LIMIT = 25_000
EVENTS_PER_LOOP_AT_MOST = 29
LOOPS_PER_EXECUTION = 600


class Outcome(StrEnum):
    OPEN = "open"  # still failing: wait, probe again
    EXPIRING = "expiring"  # more parked notifications are past the window: probe again now
    DISABLED = "disabled"  # the subscription is disabled: wait for a re-enable or the window
    CLOSED = "closed"  # the endpoint answered: release what is parked
    MORE = "more"  # (release) a batch was released, more are parked
    DONE = "done"  # nothing parked and the breaker closed, or no recovery named: it ends
    SUPERSEDED = "superseded"  # another execution is the endpoint's recovery: start it, end
    CONTINUE = "continue"  # a fresh execution carries on (continue-as-new): start it, end


class Endpoint(BaseModel):
    tenant: str
    subscription_id: str


def superseded(successor: str | None) -> Outcome:
    """Not the endpoint's recovery (any more): hand over to the one named, or just end."""
    return Outcome.SUPERSEDED if successor else Outcome.DONE
