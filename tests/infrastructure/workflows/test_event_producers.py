"""Outside EventBridge producers may put only the `tenant.<t>` sources of their own tenants."""

import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks.ingress import Producer

pytestmark = pytest.mark.infrastructure


def test_each_listed_producer_is_bound_to_its_tenants_sources(tmp_path):
    app = build_app(context={"aws:cdk:bundling-stacks": [], "stepwire:eventProducers": [
        {"principal": "111122223333", "tenants": ["acme", "acme-eu"]},
        {"principal": "arn:aws:iam::444455556666:role/billing", "tenants": ["globex"]}]},
        outdir=str(tmp_path))
    stack = app.node.find_child("Stepwire")
    policy = Template.from_stack(stack).find_resources("AWS::Events::EventBusPolicy")
    statements = {p["Properties"]["Statement"]["Sid"]: p["Properties"]["Statement"]
                  for p in policy.values()}
    first, second = statements["cdk-Producer0PublishesForItsTenants"], statements[
        "cdk-Producer1PublishesForItsTenants"]
    assert first["Action"] == "events:PutEvents"
    assert first["Condition"] == {"StringEquals": {"events:source": ["tenant.acme",
                                                                     "tenant.acme-eu"]}}
    assert "111122223333" in str(first["Principal"])
    assert second["Principal"] == {"AWS": "arn:aws:iam::444455556666:role/billing"}
    assert second["Condition"] == {"StringEquals": {"events:source": ["tenant.globex"]}}


def test_a_producer_without_tenants_is_refused():
    with pytest.raises(ValueError, match="needs a principal and tenants"):
        Producer.of({"principal": "111122223333", "tenants": []})
