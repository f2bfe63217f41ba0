"""The HTTP API's behaviour through the local gateway: idempotency, paging and cursors, size
limits, validation, key rotation, dead letters and redrive, secret rotation, rate limits."""

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from lambdas import handle_api_request, handle_authorize_request
from stepwire.gateway.api_gateway import Gateway
from stepwire.gateway.usage_plans import RateLimit
from stepwire.host.provision import STATEMACHINES_DIR
from tests.functional.api.api_harness import ApiEnv, api_env, json_of
from workflows import wiring
from workflows.api.app import ROUTES
from workflows.delivery.failure import record_failure
from workflows.kernel.ids import execution_name, webhook_id
from workflows.kernel.models import (
    Event,
    FailureReport,
    NotificationStatus,
    NotificationTarget,
)
from workflows.kernel.settings import get_settings
from workflows.storage import table

pytestmark = pytest.mark.functional

BASE = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


def _stored_events(env: ApiEnv, tenant: str) -> list[str]:
    """The ids of the tenant's stored events (an accepted event is stored before its 202)."""
    pages = env.client("dynamodb").get_paginator("query").paginate(
        TableName=env.resources.table_name, IndexName=table.EVENTS_BY_TIME_INDEX,
        KeyConditionExpression="gsi1pk = :g",
        ExpressionAttributeValues={":g": {"S": table.events_by_time_key(tenant)}})
    return [item["id"]["S"] for page in pages for item in page["Items"]]


def _target(tenant: str, event_id: str, subscription_id: str) -> NotificationTarget:
    return NotificationTarget(tenant=tenant, event_id=event_id, subscription_id=subscription_id,
                              webhook_id=webhook_id(tenant, event_id, subscription_id),
                              execution_name=execution_name(event_id, subscription_id))


# --- publish -------------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_is_one_event_stored(env: ApiEnv):
    token = env.token("idem", ["publisher"])
    before = len(_stored_events(env, "idem"))
    first = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "order-42"},
                     body={"type": "order.created", "data": {"n": 1}})
    again = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "order-42"},
                     body={"type": "order.created", "data": {"n": 1}})
    other = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "order-43"},
                     body={"type": "order.created", "data": {"n": 1}})
    assert (first.status, again.status, other.status) == (202, 202, 202)
    assert json_of(first) == json_of(again)
    assert json_of(other)["id"] != json_of(first)["id"]
    assert len(_stored_events(env, "idem")) == before + 2
    # Another tenant with the same key is another event.
    foreign = env.call("POST", "/events", token=env.token("idem2", ["publisher"]),
                       headers={"Idempotency-Key": "order-42"},
                       body={"type": "order.created", "data": {"n": 1}})
    assert json_of(foreign)["id"] != json_of(first)["id"]


def test_the_same_key_with_another_body_is_a_422_naming_the_key(env: ApiEnv):
    # Given an event accepted under a key
    token = env.token("idem-conflict", ["publisher"])
    first = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "pay-7"},
                     body={"type": "payment.made", "data": {"amount": 10}})
    before = len(_stored_events(env, "idem-conflict"))
    # When the key comes again with another body
    changed = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "pay-7"},
                       body={"type": "payment.made", "data": {"amount": 99}})
    # Then it is refused, the key is named, nothing is started, and the first body still works
    assert (first.status, changed.status) == (202, 422)
    assert changed.headers["Content-Type"] == "application/problem+json"
    assert "'pay-7'" in json_of(changed)["detail"]
    assert "Idempotency-Key" in json_of(changed)["detail"]
    assert len(_stored_events(env, "idem-conflict")) == before
    again = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "pay-7"},
                     body={"type": "payment.made", "data": {"amount": 10}})
    assert json_of(again) == json_of(first)


def test_a_client_id_is_used_and_a_repeat_returns_the_event_as_first_accepted(env: ApiEnv):
    token = env.token("ids", ["publisher"])
    first = env.call("POST", "/events", token=token,
                     body={"type": "order.created", "data": {}, "id": "order-1"})
    same = env.call("POST", "/events", token=token,
                    body={"type": "order.created", "data": {}, "id": "order-1"})
    changed = env.call("POST", "/events", token=token,
                       body={"type": "order.cancelled", "data": {}, "id": "order-1"})
    assert json_of(first)["id"] == "order-1"
    assert json_of(same) == json_of(first)
    assert changed.status == 422
    assert "id 'order-1'" in json_of(changed)["detail"]


def test_a_202_means_the_published_event_is_stored(env: ApiEnv):
    token = env.token("input", ["publisher"])
    accepted = json_of(env.call("POST", "/events", token=token,
                                body={"type": "user.signed_up", "data": {"email": "a@b.c"}}))
    stored = env.store.get_event("input", accepted["id"])
    assert stored is not None
    assert (stored.tenant, stored.type, stored.data) == ("input", "user.signed_up",
                                                         {"email": "a@b.c"})
    assert stored.created_at.isoformat() == accepted["created_at"].replace("Z", "+00:00")


def test_size_limits_json_and_field_errors(env: ApiEnv):
    token = env.token("limits", ["publisher"])
    ok = env.call("POST", "/events", token=token,
                  body={"type": "big.ok", "data": {"blob": "x" * (64 * 1024)}})
    assert ok.status == 202
    too_big = env.call("POST", "/events", token=token,
                       body={"type": "big.no", "data": {"blob": "x" * (130 * 1024)}})
    assert too_big.status == 413 and "limit" in json_of(too_big)["detail"]
    over_gateway = env.call("POST", "/events", token=token,
                            body={"type": "big.no", "data": {"blob": "x" * (300 * 1024)}})
    assert over_gateway.status == 413
    malformed = env.call("POST", "/events", token=token, raw=b'{"type": "a", "data": ')
    assert malformed.status == 400 and json_of(malformed)["detail"] == \
        "the request body is not valid JSON"
    wrong_type = env.call("POST", "/events", token=token, body={"type": 7, "data": {}})
    assert wrong_type.status == 422
    problem = json_of(wrong_type)
    assert problem["errors"][0]["field"] == "type" and "type" in problem["detail"]
    assert wrong_type.headers["Content-Type"] == "application/problem+json"
    no_data = env.call("POST", "/events", token=token, body={"type": "a.b"})
    assert no_data.status == 422 and json_of(no_data)["errors"][0]["field"] == "data"
    bad_limit = env.call("GET", "/events?limit=1000", token=token)
    assert bad_limit.status == 422 and json_of(bad_limit)["errors"][0]["field"] == "limit"


def _nested(depth: int) -> dict:
    data: dict = {"leaf": 1}
    for _ in range(depth - 1):
        data = {"a": data}
    return data


@pytest.mark.parametrize(("raw", "headers", "status", "detail"), [
    (b'{"type": "deep.no", "data": ' + b'{"a": ' * 500 + b"1" + b"}" * 501, {}, 400,
     "deeper than 33"),
    (b'{"type": "deep.no", "data": ' + b'{"a": ' * 990 + b"1" + b"}" * 991, {}, 400,
     "deeper than 33"),
    (b'{"type": "deep.no", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", {}, 400,
     "deeper than 33"),
    (b'{"type": "bad.bytes", "data": {"s": "\xff"}}', {}, 400, "not valid UTF-8"),
    (b'{"type": "a.b", "data": {}}', {"Content-Type": "text/plain"}, 415,
     "Content-Type: application/json"),
    (b"type=a.b", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     "Content-Type: application/json"),
], ids=["500-deep", "990-deep", "50000-deep", "not-utf8", "text-plain", "form"])
def test_a_body_no_schema_describes_is_a_clear_4xx_before_202(env: ApiEnv, raw, headers,
                                                              status, detail):
    before = len(_stored_events(env, "shape"))
    response = env.call("POST", "/events", token=env.token("shape", ["publisher"]), raw=raw,
                        headers=headers)
    assert response.status == status, response.body
    assert detail in json_of(response)["detail"]
    assert len(_stored_events(env, "shape")) == before


def test_data_nested_to_the_limit_is_accepted(env: ApiEnv):
    response = env.call("POST", "/events", token=env.token("shape", ["publisher"]),
                        body={"type": "deep.ok", "data": _nested(32)})
    assert response.status == 202, response.body


# --- list and cursors -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged(env: ApiEnv) -> dict[str, dict]:
    """250 events of tenant 'pages': two types, three derived statuses, one a minute."""
    statuses = [NotificationStatus.DELIVERED, NotificationStatus.FAILED,
                NotificationStatus.PENDING]
    expected = {}
    for n in range(250):
        event = Event(id=f"evt_{n:04d}", tenant="pages", type="a.one" if n % 2 else "b.two",
                      data={"n": n}, created_at=BASE + timedelta(minutes=n))
        env.store.put_event_if_new(event, "arn:ingest")
        target = _target("pages", event.id, "sub_1")
        env.store.create_notifications([target])
        env.store.set_notification_status(target, statuses[n % 3])
        expected[event.id] = {"type": event.type, "status": statuses[n % 3].value,
                              "created_at": event.created_at}
    return expected


def _all_pages(env: ApiEnv, query: str, limit: int) -> list[dict]:
    token, items, cursor, pages = env.token("pages", ["reader"]), [], None, 0
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = env.call("GET", f"/events?limit={limit}{query}{suffix}", token=token)
        assert response.status == 200, response.body
        page = json_of(response)
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items
        assert pages < 300


@pytest.mark.parametrize(("query", "limit", "keep"), [
    ("", 7, lambda e: True),
    ("", 100, lambda e: True),
    ("&type=a.one", 9, lambda e: e["type"] == "a.one"),
    ("&status=failed", 10, lambda e: e["status"] == "failed"),
    ("&type=b.two&status=delivered", 4, lambda e: e["type"] == "b.two"
     and e["status"] == "delivered"),
    (f"&since={(BASE + timedelta(minutes=100)).isoformat().replace('+', '%2B')}"
     f"&until={(BASE + timedelta(minutes=199)).isoformat().replace('+', '%2B')}", 13,
     lambda e: BASE + timedelta(minutes=100) <= e["created_at"] <= BASE
     + timedelta(minutes=199)),
], ids=["all-7", "all-100", "type", "status", "type+status", "since+until"])
def test_paging_returns_each_event_exactly_once(env: ApiEnv, paged, query, limit, keep):
    items = _all_pages(env, query, limit)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == {i for i, e in paged.items() if keep(e)}
    assert ids == sorted(ids, reverse=True)  # newest first
    for item in items:
        assert item["status"] == paged[item["id"]]["status"]


def test_a_tampered_foreign_or_reused_cursor_is_a_400(env: ApiEnv, paged):
    token = env.token("pages", ["reader"])
    cursor = json_of(env.call("GET", "/events?limit=5", token=token))["next_cursor"]
    body, signature = cursor.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{flipped}.{signature}", f"{body}.{signature[:-1]}", "garbage", "a.b.c",
                f"{body}."):
        response = env.call("GET", f"/events?limit=5&cursor={bad}", token=token)
        assert response.status == 400, bad
        assert response.headers["Content-Type"] == "application/problem+json"
    other_filters = env.call("GET", f"/events?limit=5&type=a.one&cursor={cursor}", token=token)
    assert other_filters.status == 400
    foreign = env.call("GET", f"/events?limit=5&cursor={cursor}",
                       token=env.token("globex", ["reader"]))
    assert foreign.status == 400


def test_get_event_shows_notifications_and_attempts(env: ApiEnv, paged):
    detail = json_of(env.call("GET", "/events/evt_0001", token=env.token("pages", ["reader"])))
    assert detail["status"] == "failed"
    assert detail["data"] == {"n": 1}
    assert detail["notifications"] == [{"subscription_id": "sub_1", "status": "failed",
                                        "attempts": [], "execution_arn": None,
                                        "next_attempt_at": None, "next_attempt_reason": None}]


def test_a_waiting_notification_shows_when_its_next_attempt_is_due(
        env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    # Given a notification whose workflow recorded a 312 s backoff (its RecordBackoff state's
    # own write, from the ASL file), on a runtime whose waits are 100 times shorter
    monkeypatch.setenv("STEPWIRE_TIME_SCALE", "0.01")
    get_settings.cache_clear()
    event = Event(id="evt_waiting", tenant="waits", type="a.one", data={}, created_at=BASE)
    env.store.put_event_if_new(event, "arn:ingest")
    target = _target("waits", event.id, "sub_1")
    env.store.create_notifications([target])
    env.store.claim_attempt(target, "arn:fast", lease_seconds=35)
    record = json.loads((STATEMACHINES_DIR / "notification.asl.json").read_text())[
        "States"]["RecordBackoff"]["Parameters"]
    written = record["ExpressionAttributeValues"][":next"]["M"]
    decided = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    env.client("dynamodb").update_item(
        TableName=env.resources.table_name, Key=env.store.notification_key(target),
        UpdateExpression=record["UpdateExpression"],
        ExpressionAttributeValues={":next": {"M": {
            **written, "decided_at": {"S": decided.isoformat()}, "wait_seconds": {"N": "312"}}}})
    token = env.token("waits", ["reader"])

    # When it is traced
    try:
        detail = json_of(env.call("GET", f"/events/{event.id}", token=token))
    finally:
        get_settings.cache_clear()

    # Then the trace says when the next attempt is due (scaled as the waits are) and why
    [notification] = detail["notifications"]
    assert notification["status"] == "delivering"
    assert datetime.fromisoformat(notification["next_attempt_at"]) == decided + timedelta(
        seconds=3.12)
    assert notification["next_attempt_reason"] == "backoff"
    # And the attempt it waits for clears it
    env.store.claim_attempt(target, "arn:fast", lease_seconds=35)
    [again] = json_of(env.call("GET", f"/events/{event.id}", token=token))["notifications"]
    assert (again["next_attempt_at"], again["next_attempt_reason"]) == (None, None)


# --- subscriptions --------------------------------------------------------------------------


def test_subscription_lifecycle_and_secret_rotation(env: ApiEnv):
    token = env.token("subs", ["admin"])
    created = json_of(env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/a", "event_types": ["order.*"], "description": "orders"}))
    assert created["secret"].startswith("whsec_") and created["status"] == "active"
    sub = created["id"]
    shown = json_of(env.call("GET", f"/subscriptions/{sub}", token=token))
    assert "secret" not in shown and shown["description"] == "orders"
    patched = env.call("PATCH", f"/subscriptions/{sub}", token=token,
                       body={"status": "paused", "event_types": ["*"]})
    assert json_of(patched)["status"] == "paused" and json_of(patched)["event_types"] == ["*"]
    assert env.call("PATCH", f"/subscriptions/{sub}", token=token,
                    body={"event_types": ["bad filter"]}).status == 422
    assert env.call("PATCH", f"/subscriptions/{sub}", token=token,
                    body={"url": "http://169.254.169.254/"}).status == 422
    rotated = json_of(env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token))
    assert rotated["secret"] != created["secret"]
    assert env.store.signing_secrets("subs", sub) == [rotated["secret"], created["secret"]]
    assert env.call("DELETE", f"/subscriptions/{sub}", token=token).status == 204
    assert env.call("GET", f"/subscriptions/{sub}", token=token).status == 404


def test_a_rate_limit_is_set_on_create_changed_cleared_and_shown(env: ApiEnv):
    token = env.token("rates", ["admin"])
    # Given a subscription created with a rate limit, and one without
    limited = json_of(env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/r", "event_types": ["*"], "rate_limit": 5}))
    unlimited = json_of(env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/u", "event_types": ["*"]}))
    assert (limited["rate_limit"], unlimited["rate_limit"]) == (5, None)

    def shown(sub: str) -> dict:
        return json_of(env.call("GET", f"/subscriptions/{sub}", token=token))

    assert shown(limited["id"])["rate_limit"] == 5 and shown(unlimited["id"])["rate_limit"] is None
    listed = json_of(env.call("GET", "/subscriptions", token=token))["items"]
    assert {s["id"]: s["rate_limit"] for s in listed} == {limited["id"]: 5,
                                                          unlimited["id"]: None}
    # When PATCH changes it, leaves it alone, or clears it with null
    changed = json_of(env.call("PATCH", f"/subscriptions/{limited['id']}", token=token,
                               body={"rate_limit": 20}))
    assert changed["rate_limit"] == 20
    kept = json_of(env.call("PATCH", f"/subscriptions/{limited['id']}", token=token,
                            body={"description": "throttled"}))
    assert kept["rate_limit"] == 20
    cleared = json_of(env.call("PATCH", f"/subscriptions/{limited['id']}", token=token,
                               body={"rate_limit": None}))
    assert cleared["rate_limit"] is None and shown(limited["id"])["rate_limit"] is None
    # Then a bad value is a 422 that names the field, on create and on PATCH
    for bad in (0, 1001, 2.5, "5", True):
        refused = env.call("POST", "/subscriptions", token=token, body={
            "url": "http://127.0.0.1:9/x", "event_types": ["*"], "rate_limit": bad})
        assert refused.status == 422, bad
        problem = json_of(refused)
        assert "rate_limit" in json.dumps(problem) and problem["detail"]
        assert env.call("PATCH", f"/subscriptions/{limited['id']}", token=token,
                        body={"rate_limit": bad}).status == 422


def test_get_subscription_shows_the_endpoints_health(env: ApiEnv):
    token = env.token("health", ["reader", "admin"])
    sub = json_of(env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/h", "event_types": ["*"]}))["id"]
    healthy = json_of(env.call("GET", f"/subscriptions/{sub}", token=token))["health"]
    assert healthy == {"breaker": "closed", "failure_streak": 0, "last_error": None,
                       "last_failure_at": None, "opened_at": None, "next_probe_at": None,
                       "parked": 0, "disabled_reason": None, "disabled_at": None}

    now = datetime.now(UTC)
    env.store.record_endpoint_failure("health", sub, "HTTP 503", now, counts=True)
    env.store.open_breaker("health", sub, "recovery-h", now)

    health = json_of(env.call("GET", f"/subscriptions/{sub}", token=token))["health"]
    assert (health["breaker"], health["failure_streak"], health["last_error"]) == (
        "open", 1, "HTTP 503")
    assert datetime.fromisoformat(health["opened_at"]) == now
    assert "recovery" not in health and "failing_since" not in health


def test_subscriptions_page_with_a_cursor(env: ApiEnv):
    token = env.token("subpages", ["admin"])
    made = {json_of(env.call("POST", "/subscriptions", token=token, body={
        "url": f"http://127.0.0.1:9/{n}", "event_types": ["*"]}))["id"] for n in range(5)}
    seen, cursor = [], None
    while True:
        page = json_of(env.call("GET", "/subscriptions?limit=2"
                                + (f"&cursor={cursor}" if cursor else ""), token=token))
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)


# --- replay and dead letters ---------------------------------------------------------------


def _failed(env: ApiEnv, tenant: str, event_id: str, subscription_id: str) -> None:
    """What the notification workflow does on final failure: RecordFailure, then the DLQ."""
    env.store.put_event_if_new(Event(id=event_id, tenant=tenant, type="x.y", data={},
                                     created_at=datetime.now(UTC)), "arn:ingest")
    target = _target(tenant, event_id, subscription_id)
    env.store.create_notifications([target])
    dead = record_failure(FailureReport(notification=target, error="Delivery.Permanent",
                                        cause="HTTP 400", execution_arn=f"arn:{event_id}"),
                          store=env.store)
    env.client("sqs").send_message(QueueUrl=env.resources.dead_letter_queue_url,
                                   MessageBody=dead.model_dump_json())


def test_replay_starts_a_new_execution_with_the_same_webhook_id(env: ApiEnv):
    _failed(env, "replay", "evt_r1", "sub_a")
    token = env.token("replay", ["publisher"])
    first = json_of(env.call("POST", "/events/evt_r1/replay", token=token, body={}))
    second = json_of(env.call("POST", "/events/evt_r1/replay", token=token,
                              body={"subscription_ids": ["sub_a"]}))
    arns = [first["executions"][0]["execution_arn"], second["executions"][0]["execution_arn"]]
    assert len(set(arns)) == 2
    sfn = env.client("stepfunctions")
    for arn in arns:
        started = json.loads(sfn.describe_execution(executionArn=arn)["input"])
        assert started["notification"]["webhook_id"] == webhook_id("replay", "evt_r1", "sub_a")
    detail = json_of(env.call("GET", "/events/evt_r1", token=token))
    assert detail["notifications"][0]["status"] == "pending"
    assert detail["notifications"][0]["execution_arn"] == arns[1]
    unknown = env.call("POST", "/events/evt_r1/replay", token=token,
                       body={"subscription_ids": ["sub_zz"]})
    assert unknown.status == 404


def test_dead_letters_are_listed_per_tenant_and_redriven_by_filter(env: ApiEnv):
    for event_id, sub in (("evt_d1", "sub_keep"), ("evt_d2", "sub_go"), ("evt_d3", "sub_go")):
        _failed(env, "dlq", event_id, sub)
    _failed(env, "dlq-other", "evt_d9", "sub_go")
    admin = env.token("dlq", ["admin"])
    listed = json_of(env.call("GET", "/dead-letters", token=admin))
    assert [(i["event_id"], i["subscription_id"]) for i in listed["items"]] == [
        ("evt_d1", "sub_keep"), ("evt_d2", "sub_go"), ("evt_d3", "sub_go")]
    assert listed["items"][0]["error"] == "Delivery.Permanent"
    assert listed["items"][0]["cause"] == "gave up before any attempt: HTTP 400"

    redriven = env.call("POST", "/dead-letters/redrive", token=admin,
                        body={"subscription_id": "sub_go"})
    assert redriven.status == 202 and json_of(redriven) == {"redriven": 2}
    left = json_of(env.call("GET", "/dead-letters", token=admin))["items"]
    assert [i["event_id"] for i in left] == ["evt_d1"]
    # The redrive never read the shared queue: every message is there, received for the first
    # time now (the other tenant's included).
    sqs = env.client("sqs")
    received = []
    while messages := sqs.receive_message(QueueUrl=env.resources.dead_letter_queue_url,
                                          MaxNumberOfMessages=10, VisibilityTimeout=60,
                                          AttributeNames=["ApproximateReceiveCount"]
                                          ).get("Messages", []):
        received += [(json.loads(m["Body"]), m["Attributes"]["ApproximateReceiveCount"])
                     for m in messages]
    assert sorted((body["tenant"], body["event_id"], count) for body, count in received
                  if body["tenant"].startswith("dlq")) == [
        ("dlq", "evt_d1", "1"), ("dlq", "evt_d2", "1"), ("dlq", "evt_d3", "1"),
        ("dlq-other", "evt_d9", "1")]
    for event_id in ("evt_d2", "evt_d3"):
        notification = json_of(env.call("GET", f"/events/{event_id}", token=admin))[
            "notifications"][0]
        assert notification["status"] == "pending" and notification["execution_arn"]
    since = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    assert json_of(env.call("GET", f"/dead-letters?since={since}", token=admin))["items"] == []


# --- keys, limits, logs, odd requests ------------------------------------------------------


def test_after_a_key_rotation_the_previous_key_works_and_a_retired_one_does_not(
        env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STEPWIRE_JWT_KEY_CACHE_SECONDS", "0")
    wiring.reset()
    secrets = env.client("secretsmanager")
    old = env.token("keys", ["reader"])
    secrets.put_secret_value(SecretId=env.resources.jwt_secret_id, SecretString="k2" * 22)
    new = env.token("keys", ["reader"])
    assert env.call("GET", "/events", token=old).status == 200
    assert env.call("GET", "/events", token=new).status == 200
    secrets.put_secret_value(SecretId=env.resources.jwt_secret_id, SecretString="k3" * 22)
    assert env.call("GET", "/events", token=old).status == 401  # two rotations: retired
    assert env.call("GET", "/events", token=new).status == 200
    wiring.reset()


def test_per_tenant_rate_limit_answers_429_with_retry_after(env: ApiEnv):
    limited = ApiEnv(gateway=Gateway(handle_api_request.lambda_handler,
                                     handle_authorize_request.lambda_handler, ROUTES,
                                     rate_limit=RateLimit(rate=0.5, burst=2)),
                     resources=env.resources)
    token = limited.token("busy", ["reader"])
    statuses = [limited.call("GET", "/events", token=token).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    throttled = limited.call("GET", "/events", token=token)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.headers["Content-Type"] == "application/problem+json"
    assert limited.call("GET", "/events", token=limited.token("calm", ["reader"])).status == 200


def test_every_mutating_call_is_audit_logged(env: ApiEnv, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="stepwire"):
        env.call("POST", "/events", token=env.token("audit", ["reader"]),
                 body={"type": "a.b", "data": {}})
        env.call("GET", "/events", token=env.token("audit", ["reader"]))
        env.call("POST", "/subscriptions", token=env.token("audit", ["admin"]),
                 body={"url": "http://127.0.0.1:9/x", "event_types": ["*"]})
    audits = [r.audit for r in caplog.records if r.getMessage() == "audit"]
    assert [(a["action"], a["status"], a["tenant"]) for a in audits] == [
        ("POST /events", 403, "audit"), ("POST /subscriptions", 201, "audit")]
    assert audits[1]["principal"] == "user@audit"


def test_public_routes_unknown_routes_and_methods(env: ApiEnv):
    assert env.call("GET", "/health").status == 200
    schema = env.call("GET", "/openapi.json")
    assert schema.status == 200 and "/events/{event_id}/replay" in json_of(schema)["paths"]
    docs = env.call("GET", "/docs")
    assert docs.status == 200 and b"swagger" in docs.body.lower()
    # The Swagger page's own request for the document gets the document, not the page again
    as_json = env.call("GET", "/docs?format=json")
    assert as_json.status == 200 and as_json.headers["Content-Type"] == "application/json"
    assert json_of(as_json)["paths"] == json_of(schema)["paths"]
    assert env.call("GET", "/nope").status == 401
    assert env.call("GET", "/nope", token=env.token("t", ["reader"])).status == 404
    not_allowed = env.call("PUT", "/events", token=env.token("t", ["reader"]))
    assert not_allowed.status == 405 and "POST" in not_allowed.headers["Allow"]


def test_concurrent_requests_keep_their_own_principal_and_status(env: ApiEnv):
    tokens = {tenant: env.token(tenant, ["publisher"]) for tenant in ("conc-a", "conc-b")}

    def publish(n: int) -> tuple[str, int, str]:
        tenant = ("conc-a", "conc-b")[n % 2]
        response = env.call("POST", "/events", token=tokens[tenant],
                            body={"type": "c.d", "data": {"n": n}})
        return tenant, response.status, json_of(response)["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(publish, range(40)))
    assert {status for _, status, _ in results} == {202}
    for tenant, _, event_id in results:
        stored = env.store.get_event(tenant, event_id)
        assert stored is not None and stored.tenant == tenant


def test_every_operation_has_a_summary_and_a_description_a_user_can_act_on(env: ApiEnv):
    paths = json_of(env.call("GET", "/openapi.json"))["paths"]
    operations = [(method, path, op) for path, ops in paths.items() for method, op in ops.items()]
    assert len(operations) >= 13
    for method, path, op in operations:
        assert op.get("summary") and op["summary"] not in (path, f"{method.upper()} {path}"), (
            method, path)
        assert len(op.get("description", "")) > 40, (method, path)
        assert "Roles:" in op["description"] or "No token needed" in op["description"]


def test_a_refused_webhook_url_is_a_422_naming_the_url_field(env: ApiEnv):
    admin = env.token("t422", ["admin"])
    refused = env.call("POST", "/subscriptions", token=admin,
                       body={"url": "http://169.254.169.254/latest", "event_types": ["*"]})
    problem = json_of(refused)
    assert refused.status == 422
    assert [e["field"] for e in problem["errors"]] == ["url"]
    assert problem["detail"].startswith("url: ")


def test_a_publish_aws_keeps_failing_is_a_503_to_retry_and_nothing_is_accepted(
        env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    # Given DynamoDB throttles the event's put past the SDK's retries
    def throttled(*_args, **_kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "Rate exceeded"}}, "PutItem")

    monkeypatch.setattr(type(wiring.store()), "put_event_if_new", throttled)
    token = env.token("busy", ["publisher"])

    # When an event is published
    response = env.call("POST", "/events", token=token,
                        body={"type": "order.created", "data": {}, "id": "busy-1"})

    # Then the client is told to send it again, and nothing was stored (not a 500, not a 202)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "send the same request again" in json_of(response)["detail"]
    monkeypatch.undo()
    assert env.store.get_event("busy", "busy-1") is None


def test_a_publish_whose_idempotency_record_aws_keeps_failing_is_a_503(
        env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    # Given DynamoDB throttling the idempotency table (Powertools wraps the error)
    def throttled(*_args, **_kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "Rate exceeded"}}, "PutItem")

    persistence = wiring.publish_idempotency()._persistence  # Powertools' DynamoDB layer
    monkeypatch.setattr(persistence, "_put_record", throttled)
    token = env.token("busy-keys", ["publisher"])

    # When an event with a key is published
    response = env.call("POST", "/events", token=token, headers={"Idempotency-Key": "k-1"},
                        body={"type": "order.created", "data": {}})

    # Then it is a 503 to send again, not a 500
    assert response.status == 503, response.body
    assert response.headers["Retry-After"] == "1"
