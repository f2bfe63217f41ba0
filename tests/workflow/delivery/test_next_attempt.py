"""When a waiting notification's next attempt is due, and why: what `GET /events/{id}` says at
the moment each wait begins (the engine tells its Wait states' observer just before waiting)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from stepwire.emulation.stepfunctions import clock
from stepwire.host.activity_log import log_wait
from tests.support.receiver import Answer
from tests.workflow.conftest import Workflows
from tests.workflow.delivery.test_notification_workflow import (
    SCHEDULE,
    answers,
    deliver_one,
    deliver_to_the_tail,
)
from workflows import wiring
from workflows.operations.events import NotificationView, get_event
from workflows.storage import NEXT_ATTEMPT

pytestmark = pytest.mark.workflow


@dataclass
class SeenWait:
    state: str
    seconds: float  # what the workflow declares
    view: NotificationView  # the notification as GET /events/{id} shows it then


@contextmanager
def trace_at_each_wait(flows: Workflows) -> Iterator[list[SeenWait]]:
    """The tenant's notifications as the API shows them when each of their waits begins, in the
    workflow's own seconds (time scale 1)."""
    seen: list[SeenWait] = []

    def capture(state: str, seconds: float, state_input: Any) -> None:
        target = state_input.get("notification") if isinstance(state_input, dict) else None
        if not target or target["tenant"] != flows.tenant:
            return
        detail = get_event(flows.tenant, target["event_id"], store=wiring.store())
        [view] = [n for n in detail.notifications
                  if n.subscription_id == target["subscription_id"]]
        seen.append(SeenWait(state, seconds, view))

    clock.on_wait(capture)
    try:
        yield seen
    finally:
        clock.on_wait(log_wait if flows.runtime.config.log_format else None)


def due_after_last_attempt(view: NotificationView) -> float:
    return (view.next_attempt_at - view.attempts[-1].at).total_seconds()


def test_a_backoff_wait_shows_when_the_next_attempt_is_due_then_clears(flows: Workflows) -> None:
    # Given an endpoint that answers 503 once
    flows.receiver.script = answers(503)

    # When the notification waits for its second attempt
    with trace_at_each_wait(flows) as seen:
        _, event, arn, execution = deliver_one(flows)

    # Then, while it waited, the trace said when the next attempt was due, and why
    assert execution["status"] == "SUCCEEDED"
    [wait] = seen
    assert wait.state == "WaitBackoff"
    assert wait.view.next_attempt_reason == "backoff"
    low, high = SCHEDULE[0]
    assert low <= wait.seconds <= high
    # ... the jittered wait the workflow picked, counted from when it decided it
    assert wait.seconds <= due_after_last_attempt(wait.view) <= wait.seconds + 1
    # And once the next attempt started, it is gone from the trace and from the row
    detail = get_event(flows.tenant, event["id"], store=wiring.store())
    [view] = detail.notifications
    assert (view.status, view.next_attempt_at, view.next_attempt_reason) == (
        "delivered", None, None)
    row = wiring.store().get_notification(flows.tenant, event["id"], view.subscription_id)
    assert NEXT_ATTEMPT not in row


def test_a_retry_after_wait_is_due_when_the_receiver_asked(flows: Workflows) -> None:
    flows.receiver.script = answers(Answer(status=429, headers={"Retry-After": "30"}))

    with trace_at_each_wait(flows) as seen:
        _, _, _, execution = deliver_one(flows)

    assert execution["status"] == "SUCCEEDED"
    [wait] = seen
    assert (wait.state, wait.view.next_attempt_reason) == ("WaitRetryAfter", "retry_after")
    assert 30 <= due_after_last_attempt(wait.view) <= 31


def test_every_wait_of_the_long_tail_is_shown_with_its_reason(flows: Workflows) -> None:
    # Given an endpoint that asks for an hour once, then always fails
    replies = [Answer(status=503, headers={"Retry-After": "3600"})]
    flows.receiver.script = lambda _request: replies.pop(0) if replies else Answer(status=500)

    with trace_at_each_wait(flows) as seen:
        _, event, _, _, execution = deliver_to_the_tail(flows)

    # Then each wait, in the fast path and the long tail, showed its due time and reason
    assert execution["status"] == "FAILED"
    assert [(w.state, w.view.next_attempt_reason) for w in seen] == [
        ("WaitRetryAfter", "retry_after")] + [("WaitBackoff", "backoff")] * 6
    for wait in seen:
        assert wait.view.status == "delivering"
        assert wait.seconds <= due_after_last_attempt(wait.view) <= wait.seconds + 1
    assert [w.seconds for w in seen][0] == 3600
    # And a dead letter waits for nothing
    [view] = get_event(flows.tenant, event["id"], store=wiring.store()).notifications
    assert (view.status, view.next_attempt_at) == ("failed", None)
