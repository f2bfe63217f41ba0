"""The per-endpoint rate limit: at most `rate_limit` POSTs in any 1-second window.

GCRA (the generic cell rate algorithm): each endpoint keeps one number in the table, its
theoretical arrival time (TAT), the earliest time the next POST may leave. A delivery takes
the slot `max(TAT, now)` and moves the TAT one interval (1/rate, plus a little slack) past it
with one conditional UpdateItem (workflows/storage/rate_limits.py). POSTs leave at their slot
(the Deliver task sleeps until it), so two POSTs are always at least one interval apart, and
no window of one second, wherever it starts, holds more than `rate_limit` of them.

A slot further ahead than the task may sleep is reserved for the delivery (its webhook-id),
which waits whole seconds (a Step Functions Wait) and comes back a little before its slot: a
backlog is spread over the seconds ahead in arrival order, each delivery waiting once, and the
endpoint's slots are not raced for every second. No attempt is made, none is counted.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# The largest rate: one endpoint's TAT is one DynamoDB item (about 1,000 writes/s).
MAX_RATE_LIMIT = 1000
# Seconds of spacing added to every second's worth of slots: a POST does not leave exactly at
# its slot (a busy process wakes its thread late; a new connection's first request is slower
# to arrive). ±25 ms per POST was measured on a loaded machine; this leaves 100 ms a second,
# and costs 9% of the rate (5/s delivers at most 4.55/s).
SLACK = 0.1
# A slot at most this far ahead is waited for in the Deliver task; a later one is reserved.
SEND_AHEAD = 1.25
# A delivery waiting for its reserved slot is woken at least this long before it: the Wait
# state's end, the Lambda invoke and the reads before the token take a few tens of ms.
WAKE_EARLY = 0.25
# How long a reservation or an idle endpoint's TAT is kept (DynamoDB TTL removes it later).
KEPT_SECONDS = 3600


@dataclass(frozen=True)
class Pacing:
    """One endpoint's pacing, in real seconds: locally --retry-time-scale shortens the second
    like every other wait of the workflows (`time_scale`; 1 in AWS)."""

    rate: int
    time_scale: float = 1.0

    @property
    def interval(self) -> float:
        """Between the slots of two consecutive POSTs."""
        return self.time_scale * (1 + SLACK) / self.rate

    def slot(self, tat: float | None, now: float) -> float:
        """The next free slot: the TAT, or now when it has passed (an idle endpoint keeps no
        credit: a burst after a quiet minute is paced like any other)."""
        return now if tat is None or tat < now else tat

    def sendable(self, slot: float, now: float) -> bool:
        """Whether the Deliver task waits for `slot` itself (else the workflow waits)."""
        return now <= slot <= now + SEND_AHEAD * self.time_scale

    def wait_seconds(self, slot: float, now: float) -> int:
        """The whole seconds (the workflow's) to wait before coming back for `slot`: it comes
        back between WAKE_EARLY and SEND_AHEAD before the slot."""
        return max(1, math.floor((slot - now) / self.time_scale - WAKE_EARLY))

    def ahead(self, slot: float, now: float) -> int:
        """How many deliveries hold slots before `slot` (one interval apart) from now on."""
        return max(0, math.ceil((slot - now) / self.interval - 1e-6))


@dataclass(frozen=True)
class Slot:
    """A delivery's turn: `at` (epoch seconds) when the POST may leave, or else the whole
    seconds to wait first (its slot is reserved meanwhile)."""

    at: float
    wait: int = 0
    ahead: int = 0


# How the Deliver task waits for its slot. Locally the runtime lends the waiting execution's
# admission worker meanwhile, as it does for a Wait state (stepwire/host/admission.py).
pause: Callable[[float], None] = time.sleep


def set_pause(sleep: Callable[[float], None] | None) -> None:
    """Replace how the task waits for its slot (None: time.sleep again)."""
    global pause
    pause = sleep or time.sleep
