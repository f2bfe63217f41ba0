"""The endpoint-health parameters are set per deployment (context `stepwire:endpointHealth`)."""

import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks import functions as fn
from stacks.constants import CONTEXT_ENDPOINT_HEALTH, STACK_ID

pytestmark = pytest.mark.infrastructure

NO_BUNDLING = {"aws:cdk:bundling-stacks": []}


def test_a_context_value_reaches_every_function_as_its_setting() -> None:
    app = build_app(context={**NO_BUNDLING, CONTEXT_ENDPOINT_HEALTH: {
        "breaker_failure_threshold": 25, "auto_disable_after_seconds": 86400}})
    template = Template.from_stack(app.node.find_child(STACK_ID))

    [deliver] = [f for f in template.find_resources("AWS::Lambda::Function").values()
                 if f["Properties"]["Handler"] == fn.DELIVER.handler]
    variables = deliver["Properties"]["Environment"]["Variables"]
    assert variables["STEPWIRE_BREAKER_FAILURE_THRESHOLD"] == "25"
    assert variables["STEPWIRE_AUTO_DISABLE_AFTER_SECONDS"] == "86400"
    assert "STEPWIRE_TIME_SCALE" not in variables  # local only


def test_an_unknown_parameter_fails_the_synthesis() -> None:
    with pytest.raises(ValueError, match="unknown breaker_threshold"):
        build_app(context={**NO_BUNDLING, CONTEXT_ENDPOINT_HEALTH: {"breaker_threshold": 3}})
