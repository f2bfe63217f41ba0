"""The per-endpoint rate limit end to end: `stepwire local` in its own process at real time
(`--retry-time-scale 1`, so that a second is a second), a real receiver counting arrivals in
every window of one second, and another tenant's endpoint beside it."""

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.api.test_api_http import eventually, stepwire_token
from tests.e2e.conftest import LocalProcess, start_local, stop_local
from tests.support.rate_windows import ARRIVAL_JITTER, most_in_one_second
from tests.support.receiver import Receiver
from workflows.storage.rate_limits import HELD
from workflows.storage.table import rate_window_partition

pytestmark = pytest.mark.e2e

RATE = 5
EVENTS = 40
OTHER_EVENTS = 10


@pytest.fixture(scope="module")
def real_time() -> Iterator[LocalProcess]:
    running = start_local("--retry-time-scale", "1")
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, f"stepwire local did not stop cleanly ({code}):\n{output}"


def client(local: LocalProcess, tenant: str) -> httpx.Client:
    token = stepwire_token(local, tenant, "admin,publisher")
    return httpx.Client(base_url=local.api_url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def subscribe(api: httpx.Client, hook: Receiver, path: str, **fields: object) -> dict:
    created = api.post("/subscriptions", json={"url": hook.url(path), "event_types": ["*"],
                                               **fields})
    assert created.status_code == 201, created.text
    hook.secrets[path] = created.json()["secret"]
    return created.json()


def test_a_rate_limit_of_5_per_second_holds_at_the_receiver_and_slows_no_other_tenant(
        real_time: LocalProcess) -> None:
    with Receiver() as hook, client(real_time, "throttled") as limited_api, \
            client(real_time, "neighbour") as other_api:
        # Given an endpoint limited to 5 deliveries/s, and another tenant's endpoint without one
        limited = subscribe(limited_api, hook, "/limited", rate_limit=RATE)
        subscribe(other_api, hook, "/other")
        assert limited_api.get(f"/subscriptions/{limited['id']}").json()["rate_limit"] == RATE
        published_at: dict[str, float] = {}

        def publish_other(n: int) -> None:
            published_at[other_api.post("/events", json={"type": "order.created",
                                                         "data": {"n": n}}).json()["id"]] = \
                time.monotonic()

        # (the other endpoint's first delivery also builds the process's connection pools,
        # whose first use would otherwise delay one POST after its token was taken)
        publish_other(-1)
        hook.wait_for("/other", 1, timeout=60)

        # When 40 events are published to the limited one as fast as the API takes them (8
        # clients at once, so that a backlog forms even on a busy machine)
        def publish_limited(n: int) -> str:
            return limited_api.post("/events", json={"type": "order.created",
                                                     "data": {"n": n}}).json()["id"]

        with ThreadPoolExecutor(max_workers=8) as clients:
            ids = list(clients.map(publish_limited, range(EVENTS)))
        # and, while they wait their turn, the other tenant publishes 10
        for n in range(OTHER_EVENTS):
            publish_other(n)
        others = hook.wait_for("/other", 1 + OTHER_EVENTS, timeout=60)[1:]
        limited_when_others_done = len(hook.requests.get("/limited", []))

        # Then every event arrives once per webhook-id, verified, and at most 5 in any second,
        # wherever it starts (not only in each second of the clock; the POSTs leave at least
        # 0.22 s apart, and reach the receiver within ARRIVAL_JITTER of that)
        arrived = hook.wait_for("/limited", EVENTS, timeout=120)
        assert all(r.verified for r in arrived)
        assert sorted(r.payload["id"] for r in arrived) == sorted(ids)
        assert Counter(r.headers["webhook-id"] for r in arrived).most_common(1)[0][1] == 1
        times = sorted(r.at for r in arrived)
        shown = [round(t - times[0], 3) for t in times]
        assert most_in_one_second(times, window=1 - ARRIVAL_JITTER) <= RATE, shown
        assert most_in_one_second(times) <= RATE + 1, shown
        assert times[-1] - times[0] >= (EVENTS - 1) / RATE
        # and the other tenant's endpoint was not held behind them: its events arrived while
        # the throttled ones still waited, each in well under the 8 s the backlog takes
        assert limited_when_others_done < EVENTS
        latencies = [r.at - published_at[r.payload["id"]] for r in others]
        assert max(latencies) < (EVENTS / RATE) / 2, latencies

        # and the attempt log shows one attempt each, delivered: no failed attempt
        def one_delivered_attempt_each() -> bool:
            return all([a["status_code"] for a in limited_api.get(f"/events/{i}").json()
                        ["notifications"][0]["attempts"]] == [200] for i in ids)

        eventually(one_delivered_attempt_each)
        for event_id in ids:
            [notification] = limited_api.get(f"/events/{event_id}").json()["notifications"]
            assert notification["status"] == "delivered"
        health = limited_api.get(f"/subscriptions/{limited['id']}").json()["health"]
        assert (health["failure_streak"], health["last_error"]) == (0, None)
    # and each wait was said on the activity log: every delivery whose slot was reserved
    # (the endpoint's records in the table) waited, however fast the publisher was
    waits = [line for line in real_time.log().splitlines()
             if "delivery.wait" in line and "rate limited" in line]
    assert len(waits) >= reserved_slots(real_time, "throttled", limited["id"]) > 0


def reserved_slots(local: LocalProcess, tenant: str, subscription_id: str) -> int:
    return local.client("dynamodb").query(
        TableName="stepwire", KeyConditionExpression="pk = :pk AND begins_with(sk, :held)",
        ExpressionAttributeValues={":pk": {"S": rate_window_partition(tenant, subscription_id)},
                                   ":held": {"S": HELD}})["Count"]

