"""The worst case of an Express machine's duration, read from its ASL: every path of states
from StartAt (each state once: a loop's bound lives in the data, not in the ASL), each Task
costing TimeoutSeconds × (1 + the MaxAttempts of all its retriers) plus the retriers' backoff
intervals (BackoffRate, capped by MaxDelaySeconds; jitter only shortens them), each Wait its
Seconds. A Map or Parallel costs its longest branch (Map iterations run side by side). A Task
without TimeoutSeconds (AWS's default is 99,999,999 s) has no bound, nor has a Wait on
SecondsPath unless its bound is given (`wait_bounds`, each proved from the ASL by its test).
A state a loop enters more than once costs as many times as it may be entered (`repeats`,
each proved from the ASL by its test too).
"""

from dataclasses import dataclass, field
from typing import Any

EXPRESS_SECONDS = 300


@dataclass
class Budget:
    worst_seconds: float = 0.0
    worst_path: list[str] = field(default_factory=list)
    no_timeout: set[str] = field(default_factory=set)  # Tasks without TimeoutSeconds
    unbounded_waits: set[str] = field(default_factory=set)  # Waits on a path or timestamp

    @property
    def fits(self) -> bool:
        return (not self.no_timeout and not self.unbounded_waits
                and self.worst_seconds < EXPRESS_SECONDS)


def retry_seconds(retriers: list[dict[str, Any]]) -> tuple[int, float]:
    """(extra attempts, seconds of backoff) if every retrier is exhausted."""
    attempts, waited = 0, 0.0
    for retrier in retriers:
        interval = retrier.get("IntervalSeconds", 1)
        rate = retrier.get("BackoffRate", 2.0)
        cap = retrier.get("MaxDelaySeconds")
        for n in range(retrier.get("MaxAttempts", 3)):
            delay = interval * rate ** n
            waited += min(delay, cap) if cap is not None else delay
        attempts += retrier.get("MaxAttempts", 3)
    return attempts, waited


def _next_states(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [choice.get("Next") for choice in state.get("Choices", [])]
    found += [catcher.get("Next") for catcher in state.get("Catch", [])]
    return [name for name in dict.fromkeys(found) if name]


def _state_seconds(name: str, state: dict[str, Any], budget: Budget,
                   wait_bounds: dict[str, float]) -> float:
    kind = state["Type"]
    if kind == "Task":
        if "TimeoutSeconds" not in state:
            budget.no_timeout.add(name)
            return 0.0
        attempts, waited = retry_seconds(state.get("Retry", []))
        return float(state["TimeoutSeconds"]) * (1 + attempts) + waited
    if kind == "Wait":
        if "Seconds" in state:
            return float(state["Seconds"])
        if name in wait_bounds:
            return float(wait_bounds[name])
        budget.unbounded_waits.add(name)
        return 0.0
    if kind in ("Map", "Parallel"):
        branches = state.get("Branches") or [state.get("ItemProcessor") or state["Iterator"]]
        inner = max(_longest(branch, budget, wait_bounds)[0] for branch in branches)
        attempts, waited = retry_seconds(state.get("Retry", []))
        return inner * (1 + attempts) + waited
    return 0.0


def _longest(machine: dict[str, Any], budget: Budget, wait_bounds: dict[str, float],
             repeats: dict[str, int] | None = None) -> tuple[float, list[str]]:
    states = machine["States"]
    costs = {name: _state_seconds(name, state, budget, wait_bounds) * (repeats or {}).get(name, 1)
             for name, state in states.items()}

    def walk(name: str, seen: frozenset[str]) -> tuple[float, list[str]]:
        best: tuple[float, list[str]] = (0.0, [])
        for following in _next_states(states[name]):
            if following not in seen:
                best = max(best, walk(following, seen | {following}), key=lambda b: b[0])
        return costs[name] + best[0], [name, *best[1]]

    return walk(machine["StartAt"], frozenset({machine["StartAt"]}))


def express_budget(machine: dict[str, Any], wait_bounds: dict[str, float] | None = None,
                   repeats: dict[str, int] | None = None) -> Budget:
    budget = Budget()
    budget.worst_seconds, budget.worst_path = _longest(machine, budget, wait_bounds or {},
                                                       repeats)
    return budget
