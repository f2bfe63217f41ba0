"""The events-by-time index carries what its readers use and never an event's data."""

import pytest

from workflows.kernel.models import DeadLetter
from workflows.operations.events import EventSummary
from workflows.storage import table

pytestmark = pytest.mark.unit


def test_the_index_projects_the_listings_fields_and_not_the_events_data() -> None:
    [index] = table.create_table_request("t")["GlobalSecondaryIndexes"]
    projected = set(index["Projection"]["NonKeyAttributes"])
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert "data" not in projected
    assert set(DeadLetter.model_fields) | {"webhook_id"} <= projected
    assert set(EventSummary.model_fields) - {"status"} <= projected  # status is derived
