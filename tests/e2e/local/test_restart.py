"""`stepwire local` on a state directory: stopped cleanly or killed (SIGKILL) in the middle of a
run of events, restarted on the same directory, nothing accepted is lost."""

import json
import signal
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.api.test_api_http import stepwire_token, subscribe
from tests.e2e.conftest import start_local, stop_local
from tests.support.receiver import Answer, Received, Receiver

pytestmark = pytest.mark.e2e

EVENTS_PER_RUN = 40
FAILURES_BEFORE_SUCCESS = 2  # the retrying receiver: two 503s per webhook, then 200


def terminal(api: httpx.Client, event_id: str) -> bool:
    detail = api.get(f"/events/{event_id}").json()
    notifications = detail.get("notifications") or []
    return len(notifications) == 3 and all(n["status"] in ("delivered", "failed")
                                           for n in notifications)


def publish(api: httpx.Client, run: str) -> list[str]:
    accepted = []
    for i in range(EVENTS_PER_RUN):
        response = api.post("/events", json={"type": "order.created",
                                             "data": {"run": run, "i": i}})
        assert response.status_code == 202, response.text
        accepted.append(response.json()["id"])
    return accepted


def dead_letters(api: httpx.Client) -> set[tuple[str, str]]:
    found, cursor = set(), None
    while True:
        page = api.get("/dead-letters", params={"cursor": cursor} if cursor else {}).json()
        found |= {(d["event_id"], d["subscription_id"]) for d in page["items"]}
        if not (cursor := page.get("next_cursor")):
            return found


def test_what_was_accepted_survives_a_kill(tmp_path: Path, monkeypatch) -> None:
    # Every notification to the retrying receiver fails its first attempt: with the default
    # threshold that opens its breaker. Here it stays closed, so what resumes is work in flight,
    # waiting on a retry, or handed to the long tail.
    monkeypatch.setenv("STEPWIRE_BREAKER_FAILURE_THRESHOLD", "1000")
    restart_and_check(tmp_path, clean_stop_too=False)


def test_what_was_accepted_survives_a_kill_and_a_clean_stop(tmp_path: Path) -> None:
    # With the default breaker: the retrying receiver's notifications are parked and released.
    restart_and_check(tmp_path, clean_stop_too=True)


def restart_and_check(tmp_path: Path, *, clean_stop_too: bool) -> None:
    # Snapshots every half second: the kill and the stop meet forked checkpoints under way; and
    # they hold packed partitions (events unused for half a second).
    state = ["--state-dir", str(tmp_path / "state"), "--checkpoint-seconds", "0.5",
             "--pack-seconds", "0.5"]
    snapshot = tmp_path / "state" / "snapshot.pickle"
    failures: defaultdict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def fails_twice_first(request: Received) -> Answer:
        with lock:
            failures[request.headers["webhook-id"]] += 1
            return Answer(status=503 if failures[request.headers["webhook-id"]]
                          <= FAILURES_BEFORE_SUCCESS else 200)

    local = start_local(*state)
    written_at_start = snapshot.stat().st_mtime_ns
    ports = (int(local.aws_endpoint.rsplit(":", 1)[1]), int(local.api_url.rsplit(":", 1)[1]))
    with ExitStack() as stack:
        receivers = {"ok": stack.enter_context(Receiver()),
                     "retrying": stack.enter_context(Receiver(fails_twice_first)),
                     "refusing": stack.enter_context(Receiver(lambda _: Answer(status=400)))}
        try:
            # Given a token, three subscriptions and a run of events under way
            token = stepwire_token(local, "shop", "admin,publisher,reader")
            api = httpx.Client(base_url=local.api_url, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
            subscriptions = {name: subscribe(api, receiver, "/hook", ["order.*"])
                             for name, receiver in receivers.items()}
            accepted = publish(api, "killed")
            receivers["ok"].wait_for("/hook", 5)
            deadline = time.monotonic() + 10  # a forked checkpoint has replaced the snapshot
            while snapshot.stat().st_mtime_ns == written_at_start:
                assert time.monotonic() < deadline, "no checkpoint in 10 s"
                time.sleep(0.05)

            # When the process is killed mid-run and started again on the same directory
            local.process.send_signal(signal.SIGKILL)
            local.process.wait(timeout=30)
            local = start_local(*state, ports=ports)
            print("\nafter SIGKILL:", local.banner.split("State:", 1)[1].split("\n")[0])

            # Then a token minted before still works, and a second run is accepted
            assert api.get("/subscriptions").status_code == 200
            accepted += publish(api, "stopped")
            receivers["ok"].wait_for("/hook", EVENTS_PER_RUN + 5)

            if clean_stop_too:
                # When it is stopped cleanly mid-run and started again
                code, output = stop_local(local)
                assert code == 0, output
                local = start_local(*state, ports=ports)
                print("after a clean stop:", local.banner.split("State:", 1)[1].split("\n")[0])

            # Then every accepted event ends delivered or dead-lettered
            unfinished = set(accepted)
            deadline = time.monotonic() + 120
            while unfinished and time.monotonic() < deadline:
                unfinished = {e for e in unfinished if not terminal(api, e)}
                time.sleep(0.2)
            assert not unfinished, json.dumps([api.get(f"/events/{e}").json()
                                               for e in sorted(unfinished)[:3]])
            details = {e: api.get(f"/events/{e}").json() for e in accepted}
            dead = dead_letters(api)
        finally:
            code, output = stop_local(local)
        assert code == 0, output
        # stdout is the banner alone: the functions' log lines go to stderr with the activity.
        assert not [line for line in local.output if line.startswith("{")], local.output[:3]

    seen = {name: defaultdict(set) for name in receivers}
    for name, receiver in receivers.items():
        for request in receiver.requests.get("/hook", []):
            assert request.verified, "every webhook is signed with the subscription's secret"
            seen[name][request.payload["id"]].add(request.headers["webhook-id"])
    assert set(seen["ok"]) == set(seen["retrying"]) == set(accepted)
    # One webhook-id per event and subscription, however often a resumed attempt repeated it.
    assert all(len(ids) == 1 for by_event in seen.values() for ids in by_event.values())
    assert len({i for by_event in seen.values() for ids in by_event.values() for i in ids}) \
        == sum(len(by_event) for by_event in seen.values())
    for detail in details.values():
        statuses = {n["subscription_id"]: n["status"] for n in detail["notifications"]}
        assert statuses == {subscriptions["ok"]: "delivered",
                            subscriptions["retrying"]: "delivered",
                            subscriptions["refusing"]: "failed"}, detail
    assert dead == {(e, subscriptions["refusing"]) for e in accepted}


def test_a_second_instance_on_the_same_directory_refuses_to_start(tmp_path: Path) -> None:
    # Given an instance running on a state directory
    state = ["--state-dir", str(tmp_path / "state")]
    first = start_local(*state)
    try:
        # When a second one is started on it
        with pytest.raises(RuntimeError, match="is in use by stepwire local") as refused:
            start_local(*state)
        # Then it says why and what to do; the first one still answers
        assert "pass another --state-dir" in str(refused.value)
        assert httpx.get(f"{first.api_url}/openapi.json").status_code == 200
    finally:
        code, output = stop_local(first)
    assert code == 0, output
