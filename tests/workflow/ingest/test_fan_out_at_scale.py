"""One event, 10,000 matching subscriptions: every one delivered once, signed, with its own
webhook-id. The acceptance fans out the first page; the ingest workflow walks the other 99 a
page per task (no payload ever holds every target; each page's output is a few hundred bytes).
"""

import time

import pytest

from tests.workflow.conftest import Workflows
from workflows import wiring
from workflows.ingest import fan_out

# Under 4 minutes on a quiet machine (`make test-scale`); make test runs the same paging with 357
# subscriptions (test_ingest_workflow.py).
pytestmark = [pytest.mark.workflow, pytest.mark.scale, pytest.mark.timeout(1200)]

SUBSCRIPTIONS = 10_000


def test_one_event_reaches_ten_thousand_subscriptions(flows: Workflows) -> None:
    for i in range(SUBSCRIPTIONS):
        flows.subscribe(f"/s{i}", ["order.*"])
    event = flows.event()
    started = time.monotonic()

    assert flows.publish(event) == {"batchItemFailures": []}

    requests = [r for i in range(SUBSCRIPTIONS)
                for r in flows.receiver.wait_for(f"/s{i}", 1, timeout=600)]
    took = time.monotonic() - started
    assert all(r.verified and r.payload["id"] == event["id"] for r in requests)
    assert len({r.headers["webhook-id"] for r in requests}) == SUBSCRIPTIONS
    # At least once: a repeat (a lease that ran out on a machine this busy) has the same
    # webhook-id, which receivers deduplicate by
    repeats = sum(len(flows.receiver.requests[f"/s{i}"]) for i in range(SUBSCRIPTIONS)) \
        - SUBSCRIPTIONS
    assert all(len({r.headers["webhook-id"] for r in flows.receiver.requests[f"/s{i}"]}) == 1
               for i in range(SUBSCRIPTIONS))
    _, notifications = wiring.store().get_event_with_notifications(flows.tenant, event["id"])
    assert len(notifications) == SUBSCRIPTIONS
    # 40 pages past the first, 20 per run: the second run continues where the first stopped
    runs = flows.fan_out_runs(event["id"])
    assert [flows.wait(run)["status"] for run in runs] == ["SUCCEEDED"] * len(runs)
    pages = [p for run in runs for p in flows.state_inputs(run, "FanOutPage")]
    assert len(pages) == -(-(SUBSCRIPTIONS - fan_out.INLINE_PAGE) // fan_out.WORKFLOW_PAGE)
    assert len(runs) == -(-len(pages) // fan_out.PAGES_PER_RUN)
    print(f"\n10,000 subscriptions: delivered in {took:.1f} s, {repeats} repeated POSTs")
