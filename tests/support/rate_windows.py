"""How many requests the strictest reading of a rate limit sees: the most in any window of
one second, wherever it starts (closed at both ends)."""

import bisect
from collections.abc import Iterable


def most_in_one_second(times: Iterable[float], window: float = 1.0) -> int:
    """The most of `times` (seconds) in any window [a, a + window]."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + window) - i for i, t in enumerate(ordered)),
               default=0)


# A POST reaches a receiver in another thread or process a little after it leaves at its slot:
# a busy machine was measured to delay one in about 30 by 30 to 160 ms (the sender's thread
# woken late, the receiver's server thread late to record it). Arrivals are checked in every
# window of one second less this.
ARRIVAL_JITTER = 0.1
