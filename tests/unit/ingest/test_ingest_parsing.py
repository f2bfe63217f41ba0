"""What the ingest workflow accepts: API-shaped events and EventBridge envelopes."""

import pytest

from workflows.ingest.accept import parse_published
from workflows.kernel.errors import InvalidEvent

pytestmark = pytest.mark.unit


def test_api_shape() -> None:
    event = parse_published({"tenant": "acme", "type": "order.created", "data": {"a": 1},
                             "id": "evt_1"})
    assert (event.tenant, event.type, event.data, event.id) == (
        "acme", "order.created", {"a": 1}, "evt_1")


def test_eventbridge_envelope_takes_the_type_from_detail_type_and_its_id() -> None:
    event = parse_published({"id": "6f1c-77", "detail-type": "invoice.paid", "source": "billing",
                             "detail": {"tenant": "acme", "data": {"amount": 7}}})
    assert (event.tenant, event.type, event.data, event.id) == (
        "acme", "invoice.paid", {"amount": 7}, "6f1c-77")


def test_eventbridge_envelope_prefers_the_publishers_id() -> None:
    event = parse_published({"id": "x", "detail-type": "a.b",
                             "detail": {"tenant": "t", "data": {}, "id": "evt_mine"}})
    assert event.id == "evt_mine"


@pytest.mark.parametrize(("raw", "problem"), [
    (None, "must be a JSON object"),
    ([], "must be a JSON object"),
    ({"detail-type": "a.b", "detail": "x"}, "no 'detail' object"),
    ({"type": "a.b", "data": {}}, "tenant: Field required"),
    ({"tenant": "t", "type": "a b", "data": {}}, "type: String should match"),
    ({"tenant": "t", "type": "a.b", "data": "x"}, "data: Input should be a valid dictionary"),
    ({"tenant": "t", "type": "a.b", "data": {}, "id": "has#hash"}, "id: String should match"),
    ({"tenant": "t#1", "type": "a.b", "data": {}}, "tenant: String should match"),
])
def test_invalid_events_name_the_problem(raw, problem: str) -> None:
    with pytest.raises(InvalidEvent, match=problem):
        parse_published(raw)


@pytest.mark.parametrize("depth", [33, 200])
def test_data_nested_deeper_than_a_dynamodb_map_allows_is_rejected_by_name(depth) -> None:
    data: dict = {"leaf": 1}
    for _ in range(depth - 1):
        data = {"a": data}
    with pytest.raises(InvalidEvent, match="deeper than 32 levels"):
        parse_published({"id": "x", "detail-type": "a.b",
                         "detail": {"tenant": "t", "data": data}})


def test_a_tenant_bound_source_may_publish_only_for_its_tenant() -> None:
    bound = {"id": "x", "detail-type": "a.b", "source": "tenant.acme",
             "detail": {"tenant": "acme", "data": {}}}
    assert parse_published(bound).tenant == "acme"
    with pytest.raises(InvalidEvent, match="may publish only for tenant 'acme'"):
        parse_published({**bound, "detail": {"tenant": "globex", "data": {}}})
    # A source outside the tenant. namespace is the operator's own (same-account IAM).
    assert parse_published({**bound, "source": "billing",
                            "detail": {"tenant": "globex", "data": {}}}).tenant == "globex"
