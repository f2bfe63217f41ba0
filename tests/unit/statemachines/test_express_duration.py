"""Express executions end at 5 minutes (States.Timeout, which the machine cannot catch): every
Express machine's worst case, read from its ASL, must fit in them."""

import json

import pytest

from stepwire.host.provision import MACHINES, STATEMACHINES_DIR
from tests.unit.statemachines.express_budget import express_budget, retry_seconds

pytestmark = pytest.mark.unit

EXPRESS = [machine.name for machine in MACHINES if machine.type == "EXPRESS"]


def task(timeout: int | None = None, retry: list | None = None, **more: object) -> dict:
    state: dict = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", **more}
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    if retry is not None:
        state["Retry"] = retry
    return state


def test_retry_budget_counts_every_attempt_and_capped_backoff() -> None:
    retriers = [{"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 2},
                {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 3,
                 "BackoffRate": 3, "MaxDelaySeconds": 40}]
    assert retry_seconds(retriers) == (5, 1 + 2 + 10 + 30 + 40)


def test_a_machine_within_five_minutes_fits() -> None:
    machine = {"StartAt": "Work", "States": {
        "Work": task(20, [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}], Next="Pause",
                     Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Give up"}]),
        "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Fan out"},
        "Fan out": {"Type": "Map", "ItemProcessor": {"StartAt": "One", "States": {
            "One": task(30, End=True)}}, "End": True},
        "Give up": task(10, End=True)}}

    budget = express_budget(machine)

    # Work: 20 s × 3 attempts + 1 s + 2 s of backoff; the Wait; one Map iteration.
    assert budget.worst_seconds == 63 + 60 + 30
    assert budget.worst_path == ["Work", "Pause", "Fan out"]
    assert budget.fits


def test_a_machine_past_five_minutes_or_without_bounds_does_not_fit() -> None:
    machine = {"StartAt": "Slow", "States": {
        "Slow": task(100, [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}], Next="Loose"),
        "Loose": task(Next="Later"),
        "Later": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Slow"}}}

    budget = express_budget(machine)

    assert budget.worst_seconds == 303  # the loop back to Slow counted once
    assert budget.no_timeout == {"Loose"}
    assert budget.unbounded_waits == {"Later"}
    assert not budget.fits
    # A Wait on SecondsPath costs the bound it is given
    bounded = express_budget(machine, {"Later": 10})
    assert (bounded.worst_seconds, bounded.unbounded_waits) == (313, set())


# The longest wait of each Wait on SecondsPath in an Express machine; each bound is proved from
# the ASL by the test after it.
WAIT_BOUNDS: dict[str, dict[str, float]] = {
    "ingest": {},
    "notification": {"WaitRetryAfter": 60, "WaitBackoff": 6, "WaitRateLimited": 60},
}


def load(name: str) -> dict:
    return json.loads((STATEMACHINES_DIR / f"{name}.asl.json").read_text())


def predecessors(states: dict, name: str) -> set[str]:
    """The states that can go to `name` (Next, Default, a Choice rule or a Catch)."""
    found = set()
    for other, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", []) + state.get("Catch", [])]
        if name in targets:
            found.add(other)
    return found


def test_the_seconds_path_waits_are_bounded_by_the_states_before_them() -> None:
    states = load("notification")["States"]
    # WaitRetryAfter: only after RecordRetryAfter (which keeps its input), entered only by
    # FastAttemptsLeft's rule for a Retry-After of at most 60 s.
    assert states["WaitRetryAfter"]["SecondsPath"] == "$.report.retry_after"
    assert predecessors(states, "WaitRetryAfter") == {"RecordRetryAfter"}
    assert states["RecordRetryAfter"]["ResultPath"] is None
    assert predecessors(states, "RecordRetryAfter") == {"FastAttemptsLeft"}
    [short] = [c for c in states["FastAttemptsLeft"]["Choices"] if c["Next"] == "RecordRetryAfter"]
    assert short["And"][1] == {"Variable": "$.report.retry_after", "NumericLessThanEquals": 60}
    # WaitBackoff: the schedule's first wait (5-6 s): PickBackoff follows only FastAttemptsLeft,
    # whose first rule sends a second failed attempt to HandOff.
    assert states["WaitBackoff"]["SecondsPath"] == "$.wait_seconds"
    assert predecessors(states, "WaitBackoff") == {"RecordBackoff"}
    assert states["RecordBackoff"]["ResultPath"] is None
    assert predecessors(states, "RecordBackoff") == {"PickBackoff"}
    assert predecessors(states, "PickBackoff") == {"FastAttemptsLeft"}
    assert states["FastAttemptsLeft"]["Choices"][0] == {
        "Variable": "$.attempt", "NumericGreaterThanEquals": 2, "Next": "HandOff"}
    assert "States.Array(6, " in states["PickBackoff"]["Parameters"]["wait_seconds.$"]
    # WaitRateLimited: only when the wait ends within 60 s of the start (a wait ends after it
    # begins: wait_seconds <= ends_after_seconds).
    assert states["WaitRateLimited"]["SecondsPath"] == "$.report.wait_seconds"
    assert predecessors(states, "WaitRateLimited") == {"RateLimitWaitFits"}
    [fits] = states["RateLimitWaitFits"]["Choices"]
    assert fits == {"Variable": "$.report.ends_after_seconds", "NumericLessThanEquals": 60,
                    "Next": "WaitRateLimited"}


# How often a loop may enter a state at its full cost, proved below: the fast path POSTs at
# most twice (FastAttemptsLeft); a rate-limited entry of Deliver ends before any POST, inside
# the 60 s WaitRateLimited is bounded by. The ingest's FanOutPage: once per page, bounded by
# the run's pages (it hands the rest to a new run), each page well under a second of work;
# its worst case, every retry of one page, is what is checked.
REPEATS: dict[str, dict[str, int]] = {"ingest": {}, "notification": {"Deliver": 2}}


def test_the_fast_path_posts_at_most_twice() -> None:
    states = load("notification")["States"]
    assert states["FastAttemptsLeft"]["Choices"][0] == {
        "Variable": "$.attempt", "NumericGreaterThanEquals": 2, "Next": "HandOff"}
    assert "Retry" not in states["Deliver"], "a retried Deliver would POST more often"


@pytest.mark.parametrize("name", EXPRESS)
def test_every_express_machine_fits_in_five_minutes(name: str) -> None:
    budget = express_budget(load(name), WAIT_BOUNDS[name], REPEATS[name])

    assert budget.no_timeout == set()
    assert budget.unbounded_waits == set()
    assert budget.worst_seconds < 300, budget.worst_path
