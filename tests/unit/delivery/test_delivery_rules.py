"""Pure rules of delivery: event-type filters, names, Retry-After, error names, signatures."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from workflows.delivery.failure import readable_cause
from workflows.delivery.http import parse_retry_after
from workflows.delivery.signing import new_signing_secret, signature_header
from workflows.kernel.errors import DeliveryGone, DeliveryPermanent, DeliveryRetryable
from workflows.kernel.ids import execution_name, new_id, webhook_id
from workflows.kernel.models import is_valid_filter, matches

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("event_type", "event_filter", "expected"), [
    ("order.created", "order.created", True),
    ("order.created", "order.*", True),
    ("order.created", "*", True),
    ("order.created", "order.updated", False),
    ("orders.created", "order.*", False),
    ("order", "order.*", False),
    ("order.created.v2", "order.*", True),
    ("order.created.v2", "order.created.*", True),
])
def test_event_type_filters(event_type: str, event_filter: str, expected: bool) -> None:
    assert matches(event_type, event_filter) is expected


@pytest.mark.parametrize(("event_filter", "valid"), [
    ("order.created", True), ("order.*", True), ("*", True),
    ("order*", False), ("*.created", False), ("order..created", False), ("", False),
    ("order.*\n", False), ("order.created\n", False), ("*\n", False),
])
def test_filter_syntax(event_filter: str, valid: bool) -> None:
    assert is_valid_filter(event_filter) is valid


@given(st.lists(st.text(min_size=1, max_size=100), min_size=1, max_size=4))
def test_execution_names_are_valid_and_deterministic(parts: list[str]) -> None:
    name = execution_name(*parts)
    assert name == execution_name(*parts)
    assert 1 <= len(name) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)


def test_execution_names_of_different_parts_differ() -> None:
    assert execution_name("a", "b--c") != execution_name("a--b", "c")
    assert execution_name("t", "e", "s") == "t--e--s"
    assert execution_name("t\n", "e", "s") != "t\n--e--s"


def test_ids_are_time_ordered_and_unique() -> None:
    ids = [new_id("evt") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.startswith("evt_") and len(i) == 30 for i in ids)


def test_webhook_id_is_per_event_and_subscription() -> None:
    assert webhook_id("t", "e", "s1") == webhook_id("t", "e", "s1")
    assert webhook_id("t", "e", "s1") != webhook_id("t", "e", "s2")


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("30", 30), (" 7 ", 7), ("0", 0), ("999999", 3600),
    ("soon", None), ("-5", None),
])
def test_retry_after_seconds(header: str | None, expected: int | None) -> None:
    assert parse_retry_after(header, cap_seconds=3600) == expected


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    assert 115 <= parse_retry_after(format_datetime(when, usegmt=True), 3600) <= 120
    past = datetime.now(UTC) - timedelta(seconds=120)
    assert parse_retry_after(format_datetime(past, usegmt=True), 3600) == 0


def test_errors_report_their_stable_names_and_json_details() -> None:
    # The Lambda runtime reports type(exc).__name__ as errorType and str(exc) as errorMessage.
    for error, name in ((DeliveryRetryable, "Delivery.Retryable"),
                        (DeliveryPermanent, "Delivery.Permanent"),
                        (DeliveryGone, "Delivery.Gone")):
        exc = error("HTTP 503", status_code=503, retry_after=None)
        assert type(exc).__name__ == name
        assert json.loads(str(exc)) == {"detail": "HTTP 503", "status_code": 503}
    assert issubclass(DeliveryGone, DeliveryPermanent)


def testreadable_cause_keeps_the_detail() -> None:
    cause = json.dumps({"errorType": "Delivery.Retryable",
                        "errorMessage": str(DeliveryRetryable("HTTP 500", status_code=500))})
    assert readable_cause(cause) == "HTTP 500"
    assert readable_cause("States.Timeout after 60 s") == "States.Timeout after 60 s"
    assert readable_cause(None) is None


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    now = datetime.now(UTC)
    body = json.dumps({"id": "evt_1", "type": "order.created", "data": {"n": 1}})
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signature_header([new, old], "msg_1", now, body)}

    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):  # during a rotation either secret verifies
        assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new_signing_secret()).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new).verify(body.replace("1}", "2}"), headers)
