"""Rules in LocalStack's Chaos API shape: checked, matched, drawn, added and removed."""

import json
from pathlib import Path

import pytest

from stepwire.emulation.chaos import Faults, InvalidRules, load_rules

pytestmark = pytest.mark.functional

THROTTLE = {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}


def test_a_rule_matches_on_the_service_region_and_operation_it_names() -> None:
    faults = Faults()
    faults.replace([{"service": "dynamodb", "region": "us-east-1", "operation": "PutItem",
                     "error": THROTTLE}])

    assert faults.decide("dynamodb", "us-east-1", "PutItem").error == \
        (400, "ProvisionedThroughputExceededException")
    assert faults.decide("dynamodb", "us-east-1", "putitem").error is not None
    assert faults.decide("dynamodb", "eu-west-1", "PutItem").error is None
    assert faults.decide("dynamodb", "us-east-1", "GetItem").error is None
    assert faults.decide("sqs", "us-east-1", "PutItem").error is None


def test_fields_left_out_match_everything_with_localstacks_default_error() -> None:
    faults = Faults()
    faults.replace([{"service": "sqs"}])

    decision = faults.decide("sqs", "ap-south-1", "SendMessage")

    assert decision.error == (503, "ServiceUnavailable")
    assert decision.latency == 0


@pytest.mark.parametrize("name", ["stepfunctions", "states", "sfn", "StepFunctions"])
def test_step_functions_answers_to_every_spelling(name: str) -> None:
    faults = Faults()
    faults.replace([{"service": name, "error": {"statusCode": 400,
                                                "code": "ExecutionLimitExceeded"}}])

    assert faults.decide("stepfunctions", "us-east-1", "StartExecution").error is not None


def test_probability_draws_repeat_with_the_same_seed() -> None:
    def draws(seed: int) -> list[bool]:
        faults = Faults()
        faults.seed(seed)
        faults.replace([{"service": "dynamodb", "probability": 0.5}])
        return [faults.decide("dynamodb", "us-east-1", "GetItem").error is not None
                for _ in range(200)]

    first = draws(7)

    assert first == draws(7)
    assert first != draws(8)
    assert 60 < sum(first) < 140  # about half


def test_a_latency_rule_only_delays() -> None:
    faults = Faults()
    faults.replace([{"service": "dynamodb", "latency_ms": 200},
                    {"service": "dynamodb", "operation": "Query", "latency_ms": 50,
                     "error": THROTTLE}])

    assert faults.decide("dynamodb", "us-east-1", "GetItem").latency == pytest.approx(0.2)
    assert faults.decide("dynamodb", "us-east-1", "GetItem").error is None
    query = faults.decide("dynamodb", "us-east-1", "Query")
    assert query.latency == pytest.approx(0.25)
    assert query.error is not None
    assert faults.touches("dynamodb") and not faults.touches("sqs")


def test_rules_are_added_listed_removed_and_replaced() -> None:
    faults = Faults()
    one = {"service": "dynamodb", "error": THROTTLE}
    two = {"service": "lambda", "operation": "Invoke", "probability": 0.1,
           "error": {"statusCode": 429, "code": "TooManyRequestsException"}}

    assert faults.add([one]) == [one]
    assert faults.add(two) == [one, two]  # one object: a list of one
    assert faults.active
    # Removed by what they mean: spelled with defaults and aliases, still the same rule.
    assert faults.remove([{"service": "DynamoDB", "probability": 1, "error": THROTTLE}]) == [two]
    assert faults.replace([one]) == [one]
    assert faults.replace([]) == []
    assert not faults.active


def test_express_rules_are_not_faults_of_calls() -> None:
    faults = Faults()
    faults.replace([{"service": "states", "region": "us-east-1",
                     "operation": "StartExecution", "express": "duplicate"}])

    assert faults.decide("stepfunctions", "us-east-1", "StartExecution").error is None
    assert not faults.touches("stepfunctions")
    assert faults.express("us-east-1") == "duplicate"
    assert faults.express("eu-west-1") is None


@pytest.mark.parametrize(("rules", "says"), [
    ("dynamodb", "JSON list of rules"),
    ([["dynamodb"]], "rule 0: a rule is a JSON object"),
    ([{"service": "dynamodb", "probabilty": 0.5}], "unknown field(s) probabilty"),
    ([{"service": ""}], "service must be a non-empty string"),
    ([{"service": "sqs"}, {"probability": 1.5}], "rule 1: probability must be a number"),
    ([{"probability": True}], "probability must be a number"),
    ([{"error": {"statusCode": 200, "code": "X"}}], "statusCode must be an HTTP error"),
    ([{"error": {"code": ""}}], "error.code must be an AWS error code"),
    ([{"error": "Throttling"}], "error is an object with statusCode and code"),
    ([{"latency_ms": -1}], "latency_ms must be a number"),
    ([{"service": "sfn", "express": "twice"}], "express must be one of duplicate, restart"),
    ([{"service": "dynamodb", "express": "duplicate"}], "an express rule has service"),
])
def test_invalid_rules_are_refused_with_the_reason(rules: object, says: str) -> None:
    faults = Faults()
    faults.replace([{"service": "sqs"}])

    with pytest.raises(InvalidRules) as refused:
        faults.add(rules)

    assert says in str(refused.value)
    assert faults.rules() == [{"service": "sqs"}]  # nothing half applied


def test_a_rules_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "faults.json"
    good.write_text(json.dumps([{"service": "dynamodb", "error": THROTTLE}]))
    bad = tmp_path / "bad.json"
    bad.write_text("[{")

    assert load_rules(str(good)) == [{"service": "dynamodb", "error": THROTTLE}]
    with pytest.raises(InvalidRules, match="is not JSON"):
        load_rules(str(bad))
    with pytest.raises(InvalidRules, match="cannot read"):
        load_rules(str(tmp_path / "missing.json"))
