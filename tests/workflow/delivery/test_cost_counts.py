"""What each cost scenario runs, pinned: a change that adds a state, a Lambda call, a
Standard execution or a DynamoDB unit to a scenario shows up here (and in `make cost`)."""

import pytest

from bench.receiver import Arrivals
from bench.scenarios import SCENARIOS, run
from stepwire.runtime import LocalRuntime

pytestmark = pytest.mark.workflow

DELIVER = "stepwire-deliver"
HAND_OFF, RECORD_FAILURE = "stepwire-hand-off", "stepwire-record-failure"
PINNED = {
    # One Express execution (the notification: the publish fans out itself, no ingest run),
    # no Standard transition at all. The publish writes the event (and its index entry) and
    # the notification's row; the delivery writes twice: its claim, then the status with the
    # attempt (one UpdateItem).
    "happy": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 1,
              "lambda_invocations": {DELIVER: 1},
              "write_units": 5.0, "read_units": 3.0, "sqs_messages": 0},
    # The retry after 5 s stays in the fast (Express) execution. The endpoint's health item:
    # written on the failure and on the success that ends the streak, read with each delivery.
    # The wait's due time: one write on the notification's row (RecordBackoff).
    "one-5xx": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 1,
                "lambda_invocations": {DELIVER: 2},
                "write_units": 10.0, "read_units": 6.0, "sqs_messages": 0},
    # Two fast attempts, the hand-off, six in the long tail, then the dead letter (its cause
    # reads the attempt log: one query, with the notification's row: 2 units). One
    # notification never opens the breaker; each failure updates the endpoint's health. Each
    # of the seven waits records its due time (one write; in the long tail one transition
    # more each: six). The dead letter, once queued, is marked queued (MarkQueued: one write,
    # one transition).
    "exhausted": {"standard_transitions": 47, "standard_starts": 1, "express_requests": 1,
                  "lambda_invocations": {DELIVER: 8, HAND_OFF: 1, RECORD_FAILURE: 1},
                  "write_units": 39.0, "read_units": 27.0, "sqs_messages": 1},
    # Ten notifications fanned out by the publish itself (one page).
    "fan-out-10": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 10,
                   "lambda_invocations": {DELIVER: 10},
                   "write_units": 32.0, "read_units": 21.0, "sqs_messages": 0},
}


@pytest.fixture(scope="module")
def arrivals() -> Arrivals:
    return Arrivals()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_each_scenario_runs_exactly_what_is_priced(runtime: LocalRuntime, arrivals: Arrivals,
                                                    scenario) -> None:
    counts = run(runtime, arrivals, scenario)

    assert counts.pinned() == PINNED[scenario.name]
    assert counts.express_billed_seconds > 0
