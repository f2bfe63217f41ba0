"""The per-endpoint rate limit: at most `rate_limit` deliveries start in each second.

Each endpoint has one counter per second in the table (workflows/storage/rate_limits.py). A
delivery adds one to the current second's counter with one UpdateItem: the first `rate_limit`
callers of that second deliver; a caller beyond them learns its place in the queue and waits
that many seconds' worth of tokens (a Wait state, then the Deliver task again: no attempt is
made, none is counted). Waits are whole seconds because a Step Functions Wait is, so the
windows are whole seconds too: waking k seconds later lands in the window k ahead.

A token taken in the last quarter of a second counts in the next second, and its POST waits
(in the Deliver task, at most that quarter) for that second to begin: a POST sent just before
a second ends would reach the receiver in the next one, beside that second's own deliveries.
For the same reason the token is taken last before the POST, and one that comes back within
the last 100 ms of its second is given up (the delivery waits a second).
"""

import math
from dataclasses import dataclass
from datetime import datetime

# The largest rate: one endpoint's counter is one DynamoDB partition key (about 1,000 writes/s).
MAX_RATE_LIMIT = 1000
# How long a second's counter is kept (DynamoDB TTL removes it later at no cost).
WINDOW_KEPT_SECONDS = 3600
# The part of a second at its end whose tokens count in the next second.
LEAD = 0.25
# A token must come back this long before its second ends for its POST to be sent in it (the
# table's answer can be slow under load); else it is given up.
SEND_MARGIN = 0.1


@dataclass(frozen=True)
class Window:
    """One second of an endpoint's rate limit. Locally, --retry-time-scale shortens the
    second like every other wait of the workflows (`time_scale`)."""

    index: int
    starts_at: float  # epoch seconds
    ends_at: float

    @classmethod
    def at(cls, now: datetime, time_scale: float = 1.0) -> "Window":
        """The second `now` falls in."""
        return cls.of(math.floor(now.timestamp() / time_scale), time_scale)

    @classmethod
    def for_token(cls, now: datetime, time_scale: float = 1.0) -> "Window":
        """The second a token taken `now` counts in: this one, or in its last quarter the
        next one (whose start the POST then waits for)."""
        return cls.of(math.floor(now.timestamp() / time_scale + LEAD), time_scale)

    def still_sendable(self, now: float, time_scale: float = 1.0) -> bool:
        """Whether a POST sent at `now` (epoch seconds) still leaves inside this second."""
        return now < self.ends_at - SEND_MARGIN * time_scale

    @classmethod
    def of(cls, index: int, time_scale: float) -> "Window":
        return cls(index=index, starts_at=index * time_scale, ends_at=(index + 1) * time_scale)


def wait_seconds(taken: int, rate_limit: int) -> int:
    """0 if the `taken`-th delivery of this second may go; else the whole seconds to wait
    (in the workflow's seconds) until a window with a token for it, by its place in the queue:
    the 6th to 10th caller of a second at 5/s wait 1 s, the 11th to 15th 2 s."""
    beyond = taken - rate_limit
    return 0 if beyond <= 0 else math.ceil(beyond / rate_limit)
