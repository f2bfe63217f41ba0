"""Identifier patterns match the whole value: a trailing newline is not a second identity.

Python's `re.match(r"^x$", "x\\n")` succeeds (`$` also matches before a final newline); the
code matches with `re.fullmatch`, and pydantic's `pattern=` runs on Rust's regex engine, where
`$` is the end of the text. These tests pin both.
"""

import pytest
from pydantic import ValidationError

from workflows.kernel.models import PublishedEvent
from workflows.operations.events import PublishRequest
from workflows.operations.subscriptions import NewSubscription

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("build", [
    lambda: PublishedEvent(tenant="acme\n", type="order.created", data={}),
    lambda: PublishedEvent(tenant="acme", type="order.created\n", data={}),
    lambda: PublishedEvent(tenant="acme", type="order.created", data={}, id="evt-1\n"),
    lambda: PublishRequest(type="order.created\n", data={}),
    lambda: PublishRequest(type="order.created", data={}, id="evt-1\n"),
    lambda: NewSubscription(url="https://example.com/hook", event_types=["order.*\n"]),
], ids=["event tenant", "event type", "event id", "published type", "published id",
        "subscription filter"])
def test_a_trailing_newline_is_refused_by_the_models(build) -> None:
    with pytest.raises(ValidationError):
        build()
