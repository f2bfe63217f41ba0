"""Reserved concurrency: deliveries are capped, the API, the authorizer and the workflows'
bookkeeping are guaranteed their share, and the account keeps the 100 unreserved executions
AWS requires. Numbers and reasoning: docs/decisions.md, docs/deploy.md."""

import json

import pytest

from stacks.constants import STATEMACHINES_DIR
from stacks.functions import (
    ALL_FUNCTIONS,
    API,
    AUTHORIZER,
    DEFAULT_ACCOUNT_CONCURRENCY,
    DELIVER,
    MIN_UNRESERVED_CONCURRENCY,
    reserved_concurrency,
)
from workflows.kernel.settings import Settings

pytestmark = pytest.mark.infrastructure

# The bookkeeping around a delivery: reads, the attempt's claim and record, the breaker.
BOOKKEEPING_SECONDS = 5


def reserved_in_template(synthesized) -> dict[str, int | None]:
    """Handler module → ReservedConcurrentExecutions (None when not reserved)."""
    return {f["Properties"]["Handler"].split(".")[1]:
            f["Properties"].get("ReservedConcurrentExecutions")
            for f in synthesized.resources("AWS::Lambda::Function").values()}


def test_the_template_carries_each_functions_reservation(synthesized):
    # Given the synthesized stack with cdk.json's context (no override)
    found = reserved_in_template(synthesized)

    # Then every function carries its default: deliveries capped, the rest guaranteed
    assert found == {spec.module: spec.reserved_concurrency for spec in ALL_FUNCTIONS}
    assert found[DELIVER.module] == 650
    for spec in (API, AUTHORIZER):
        assert found[spec.module] and found[spec.module] > 0, spec.name
    reserved = [value for value in found.values() if value]
    assert found[DELIVER.module] == max(reserved)


def test_the_reservations_leave_the_account_its_unreserved_100(synthesized):
    total = sum(value or 0 for value in reserved_in_template(synthesized).values())
    assert total <= DEFAULT_ACCOUNT_CONCURRENCY - MIN_UNRESERVED_CONCURRENCY
    assert DEFAULT_ACCOUNT_CONCURRENCY - total >= 100


def test_the_deliver_function_outlives_its_request_deadline(synthesized):
    # The POST's DNS bound (the connect timeout) and whole-request deadline, plus the
    # bookkeeping, fit in the function's timeout; the Task's timeout is longer still, so a
    # delivery always returns (never `Lambda.Unknown` for a slow receiver).
    defaults = Settings.model_fields
    network = (defaults["connect_timeout_seconds"].default
               + defaults["request_timeout_seconds"].default)
    deliver = next(f["Properties"] for f in
                   synthesized.resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == DELIVER.handler)
    assert deliver["Timeout"] >= network + BOOKKEEPING_SECONDS
    for machine in ("notification", "long-tail"):
        states = json.loads((STATEMACHINES_DIR / f"{machine}.asl.json").read_text())["States"]
        assert states["Deliver"]["TimeoutSeconds"] > deliver["Timeout"], machine


def test_context_overrides_are_applied_and_checked():
    # An override per function name; null or 0 reserves nothing
    reserved = reserved_concurrency(ALL_FUNCTIONS, {"Deliver": 300, "Api": None},
                                    DEFAULT_ACCOUNT_CONCURRENCY)
    assert reserved["Deliver"] == 300 and reserved["Api"] is None
    assert reserved["Authorizer"] == AUTHORIZER.reserved_concurrency
    # A larger account quota allows more
    assert reserved_concurrency(ALL_FUNCTIONS, {"Deliver": 2000}, 3000)["Deliver"] == 2000
    # What would leave fewer than 100 unreserved, an unknown name, a wrong value: refused
    with pytest.raises(ValueError, match="fewer than the 100 unreserved"):
        reserved_concurrency(ALL_FUNCTIONS, {"Deliver": 800}, DEFAULT_ACCOUNT_CONCURRENCY)
    with pytest.raises(ValueError, match="unknown functions Delivery"):
        reserved_concurrency(ALL_FUNCTIONS, {"Delivery": 10}, DEFAULT_ACCOUNT_CONCURRENCY)
    with pytest.raises(ValueError, match="whole number"):
        reserved_concurrency(ALL_FUNCTIONS, {"Deliver": "many"}, DEFAULT_ACCOUNT_CONCURRENCY)
