"""What each cost scenario runs, pinned: a change that adds a state, a Lambda call, a
Standard execution or a DynamoDB unit to a scenario shows up here (and in `make cost`)."""

import pytest

from bench.receiver import Arrivals
from bench.scenarios import SCENARIOS, run
from stepwire.runtime import LocalRuntime

pytestmark = pytest.mark.workflow

INGEST, DELIVER = "stepwire-ingest", "stepwire-deliver"
HAND_OFF, RECORD_FAILURE = "stepwire-hand-off", "stepwire-record-failure"
PINNED = {
    # Two Express executions (ingest, notification), no Standard transition at all.
    "happy": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 2,
              "lambda_invocations": {DELIVER: 1, INGEST: 1},
              "write_units": 6.0, "read_units": 3.0, "sqs_messages": 0},
    # The retry after 5 s stays in the fast (Express) execution. The endpoint's health item:
    # written on the failure and on the success that ends the streak, read with each delivery.
    # The wait's due time: one write on the notification's row (RecordBackoff).
    "one-5xx": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 2,
                "lambda_invocations": {DELIVER: 2, INGEST: 1},
                "write_units": 11.0, "read_units": 6.0, "sqs_messages": 0},
    # Two fast attempts, the hand-off, six in the long tail, then the dead letter (its cause
    # reads the attempt log: one query). One notification never opens the breaker; each
    # failure updates the endpoint's health. Each of the seven waits records its due time (one
    # write; in the long tail one transition more each: six).
    "exhausted": {"standard_transitions": 46, "standard_starts": 1, "express_requests": 2,
                  "lambda_invocations": {DELIVER: 8, HAND_OFF: 1, INGEST: 1,
                                         RECORD_FAILURE: 1},
                  "write_units": 38.0, "read_units": 26.0, "sqs_messages": 1},
    # One ingest for ten notifications.
    "fan-out-10": {"standard_transitions": 0, "standard_starts": 0, "express_requests": 11,
                   "lambda_invocations": {DELIVER: 10, INGEST: 1},
                   "write_units": 42.0, "read_units": 21.0, "sqs_messages": 0},
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
