"""The HTTP API end to end: `stepwire local` in its own process, a token from `stepwire token`,
everything else over HTTP, webhooks verified by standardwebhooks on a real receiver."""

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.e2e.conftest import ROOT, LocalProcess
from tests.support.receiver import Answer, Receiver

pytestmark = pytest.mark.e2e


def stepwire_token(local: LocalProcess, tenant: str, roles: str, ttl: int = 600) -> str:
    port = str(urlsplit(local.aws_endpoint).port)
    done = subprocess.run([sys.executable, "-m", "stepwire.cli", "token", "--tenant",
                           tenant, "--roles", roles, "--ttl", str(ttl), "--aws-port", port],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    token = done.stdout.strip()
    assert done.stdout == token + "\n" and token.count(".") == 2  # the JWT alone
    return token


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def receiver():
    down = threading.Event()
    with Receiver(lambda r: Answer(status=400 if down.is_set() else 200)) as running:
        running.down = down
        yield running


@pytest.fixture(scope="module")
def api(local: LocalProcess):
    token = stepwire_token(local, "shop", "admin,publisher")
    with httpx.Client(base_url=local.api_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as client:
        yield client


def subscribe(api: httpx.Client, receiver: Receiver, path: str, event_types: list[str]) -> str:
    created = api.post("/subscriptions", json={"url": receiver.url(path),
                                               "event_types": event_types})
    assert created.status_code == 201, created.text
    receiver.secrets[path] = created.json()["secret"]
    return created.json()["id"]


def test_publish_deliver_query_and_replay(api: httpx.Client, receiver: Receiver,
                                          local: LocalProcess):
    subscribe(api, receiver, "/shop", ["order.*"])
    body = {"type": "order.created", "data": {"order": 42}}
    first = api.post("/events", json=body, headers={"Idempotency-Key": "order-42"})
    again = api.post("/events", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    event_id = first.json()["id"]

    delivered = receiver.wait_for("/shop", 1)[0]
    assert delivered.verified and delivered.payload["data"] == {"order": 42}
    detail = eventually(lambda: (d := api.get(f"/events/{event_id}").json()).get(
        "status") == "delivered" and d)
    [notification] = detail["notifications"]
    assert notification["status"] == "delivered"
    assert [a["status_code"] for a in notification["attempts"]] == [200]
    # One event, one delivery: a single notification execution exists for it.
    executions = local.client("stepfunctions").list_executions(
        stateMachineArn=local.arn("stateMachine", "stepwire-notification"))["executions"]
    assert len([e for e in executions if event_id in e["name"]]) == 1
    assert len(receiver.requests["/shop"]) == 1

    replayed = api.post(f"/events/{event_id}/replay", json={})
    assert replayed.status_code == 202
    second = receiver.wait_for("/shop", 2)[1]
    assert second.verified
    assert second.headers["webhook-id"] == delivered.headers["webhook-id"]
    eventually(lambda: event_id in [i["id"] for i in api.get("/events", params={
        "type": "order.created", "status": "delivered"}).json()["items"]])
    attempts = api.get(f"/events/{event_id}").json()["notifications"][0]["attempts"]
    assert [a["status_code"] for a in attempts] == [200, 200]


def test_a_failed_event_is_dead_lettered_and_redriven_once_the_receiver_recovers(
        api: httpx.Client, receiver: Receiver):
    receiver.down.set()  # answers 400 (not retried): straight to the dead letters
    subscription_id = subscribe(api, receiver, "/flaky", ["payment.*"])
    event_id = api.post("/events", json={"type": "payment.failed", "data": {"n": 1}}).json()["id"]
    dead = eventually(lambda: [i for i in api.get("/dead-letters").json()["items"]
                               if i["event_id"] == event_id])
    assert dead[0]["subscription_id"] == subscription_id
    assert api.get(f"/events/{event_id}").json()["status"] == "failed"

    receiver.down.clear()
    redriven = api.post("/dead-letters/redrive", json={"subscription_id": subscription_id})
    assert redriven.status_code == 202 and redriven.json() == {"redriven": 1}
    recovered = eventually(lambda: [r for r in receiver.requests["/flaky"]
                                    if r.verified and r.payload["id"] == event_id
                                    and len(receiver.requests["/flaky"]) >= 2])
    assert recovered
    eventually(lambda: api.get(f"/events/{event_id}").json()["status"] == "delivered")
    assert event_id not in [i["event_id"] for i in api.get("/dead-letters").json()["items"]]


def test_the_gateway_refuses_what_api_gateway_refuses(local: LocalProcess, api: httpx.Client):
    assert httpx.get(f"{local.api_url}/events").status_code == 401
    assert httpx.get(f"{local.api_url}/events",
                     headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    huge = api.post("/events", content=b"{" + b" " * (300 * 1024) + b"}",
                    headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    reader = stepwire_token(local, "shop", "reader")
    forbidden = httpx.post(f"{local.api_url}/events", json={"type": "a.b", "data": {}},
                           headers={"Authorization": f"Bearer {reader}"})
    assert forbidden.status_code == 403
    assert httpx.get(f"{local.api_url}/health").json()["status"] == "ok"


def test_over_http_a_reader_cannot_reach_a_write_route_through_a_path_variant(local: LocalProcess):
    token = stepwire_token(local, "shop", "reader")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"url": "http://127.0.0.1:9/x", "event_types": ["*"]}
    # The HTTP server folds a leading "//" into "/": that is the route itself, and its role check.
    for path, status in (("/subscriptions/", 404), ("//subscriptions", 403),
                         ("/Subscriptions", 404), ("/subscriptions%2F", 404),
                         ("/dead-letters/redrive/", 404), ("/events/", 404)):
        response = httpx.post(local.api_url + path, json=body, headers=headers, timeout=30)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_negative_content_length_is_answered_at_once(local: LocalProcess):
    host, port = urlsplit(local.api_url).hostname, urlsplit(local.api_url).port
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}")
        answer = connection.recv(4096)  # no wait for the connection to close
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length" in answer


def test_stepwire_revoke_refuses_a_token_at_once(local: LocalProcess):
    # Given a reader's token from `stepwire token`, accepted
    token = stepwire_token(local, "shop", "reader")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{local.api_url}/events", headers=headers).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    # When `stepwire revoke` revokes it by its jti
    done = subprocess.run(
        [sys.executable, "-m", "stepwire.cli", "revoke", "--tenant", "shop", "--jti", jti,
         "--aws-port", str(urlsplit(local.aws_endpoint).port),
         "--api-port", str(urlsplit(local.api_url).port)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    # Then the API refuses it on the next request
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jti"] == jti
    assert httpx.get(f"{local.api_url}/events", headers=headers).status_code == 401
