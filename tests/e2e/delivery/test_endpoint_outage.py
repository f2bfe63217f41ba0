"""An endpoint outage end to end, over the HTTP API: `stepwire local` in its own process, a
real receiver that is down and then up, the health and the parked status as the API shows them."""

import threading
from collections import Counter

import httpx
import pytest

from tests.e2e.api.test_api_http import eventually, stepwire_token
from tests.e2e.conftest import LocalProcess
from tests.support.receiver import Answer, Receiver

pytestmark = pytest.mark.e2e

EVENTS = 40


def test_a_down_endpoint_is_parked_shown_and_then_delivered_once_each(
        local: LocalProcess) -> None:
    up = threading.Event()
    with Receiver(lambda r: Answer(status=200) if up.is_set() else Answer(status=503)) as hook, \
            httpx.Client(base_url=local.api_url, timeout=30) as api:
        token = stepwire_token(local, "outage", "admin,publisher")
        api.headers["authorization"] = f"Bearer {token}"
        created = api.post("/subscriptions", json={"url": hook.url("/down"),
                                                   "event_types": ["*"]}).json()
        hook.secrets["/down"] = created["secret"]

        # Given the endpoint answers 503 while events are published to it
        ids = [api.post("/events", json={"type": "order.created", "data": {"n": n}}).json()["id"]
               for n in range(EVENTS)]

        # Then the API shows the breaker open and every notification parked
        def health() -> dict:
            return api.get(f"/subscriptions/{created['id']}").json()["health"]

        eventually(lambda: health()["parked"] == EVENTS, timeout=120)
        shown = health()
        assert shown["breaker"] in ("open", "half_open")
        assert shown["last_error"] == "HTTP 503" and shown["failure_streak"] >= 10
        assert shown["next_probe_at"] is not None
        event = api.get(f"/events/{ids[-1]}").json()
        assert [n["status"] for n in event["notifications"]] == ["parked"]
        assert api.get("/dead-letters").json()["items"] == []
        sent_while_down = len(hook.requests.get("/down", []))

        # When it comes back
        up.set()

        # Then each event arrives once, verified, and the breaker closes
        arrived = hook.wait_for("/down", sent_while_down + EVENTS, timeout=120)[sent_while_down:]
        assert all(r.verified for r in arrived)
        assert sorted(r.payload["id"] for r in arrived) == sorted(ids)
        assert Counter(r.headers["webhook-id"] for r in arrived).most_common(1)[0][1] == 1
        eventually(lambda: health()["breaker"] == "closed" and health()["parked"] == 0)
        eventually(lambda: all(api.get(f"/events/{i}").json()["notifications"][0]["status"]
                               == "delivered" for i in ids))
