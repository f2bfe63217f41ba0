"""The API's small rules: cursors, derived status, the gateway's proxy event and token bucket."""

import json

import pytest

from stepwire.gateway.api_gateway import Gateway
from stepwire.gateway.http_wire import body_length
from stepwire.gateway.usage_plans import RateLimit, TokenBucket
from workflows.api.routes import ApiRoute, RouteTable
from workflows.auth.roles import Permission
from workflows.kernel.models import NotificationStatus as S
from workflows.kernel.payload_limits import MAX_REQUEST_BYTES
from workflows.operations.cursor import CursorCodec, InvalidCursor
from workflows.operations.events import EventStatus as E
from workflows.operations.events import PublishRequest, event_id_for, event_status

pytestmark = pytest.mark.unit


def test_a_cursor_round_trips_and_refuses_tampering_tenants_and_filters():
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("acme", {"type": "a"}, {"sk": "EVENT#1#"})
    assert codec.decode(cursor, "acme", {"type": "a"}) == {"sk": "EVENT#1#"}
    body, signature = cursor.split(".")
    for bad, tenant, filters in [
        (cursor, "globex", {"type": "a"}),
        (cursor, "acme", {"type": "b"}),
        (f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{signature}", "acme", {"type": "a"}),
        (f"{body}.{signature[:-2]}", "acme", {"type": "a"}),
        ("", "acme", {"type": "a"}), ("a.b.c", "acme", {"type": "a"}),
        ("%%%.$$$", "acme", {"type": "a"}),
    ]:
        with pytest.raises(InvalidCursor):
            codec.decode(bad, tenant, filters)
    with pytest.raises(InvalidCursor):
        CursorCodec(b"x" * 32).decode(cursor, "acme", {"type": "a"})


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], E.UNMATCHED),  # nothing was sent: never reported as delivered
    ([S.DELIVERED, S.DELIVERED], E.DELIVERED),
    ([S.DELIVERED, S.FAILED], E.FAILED),
    ([S.PENDING, S.FAILED], E.FAILED),
    ([S.PENDING, S.DELIVERED], E.DELIVERING),
    ([S.DELIVERING], E.DELIVERING),
    ([S.PENDING, S.PENDING], E.PENDING),
    ([S.DELIVERED, S.PARKED], E.PARKED),
    ([S.PARKED, S.FAILED], E.FAILED),
])
def test_the_event_status_is_derived_from_its_notifications(statuses, expected):
    assert event_status(statuses) is expected


def test_event_ids_come_from_the_client_the_key_or_are_new():
    request = PublishRequest(type="a.b", data={})
    assert event_id_for("t", request.model_copy(update={"id": "mine"}), "key") == "mine"
    assert event_id_for("t", request, "key") == event_id_for("t", request, "key")
    assert event_id_for("t", request, "key") != event_id_for("u", request, "key")
    assert event_id_for("t", request, None) != event_id_for("t", request, None)


def test_the_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(RateLimit(rate=2, burst=3), clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0


def test_the_gateway_builds_the_rest_proxy_event_with_the_authorizer_context():
    seen = {}

    def authorizer(event, context):
        seen["authorizer"] = event
        return {"principalId": "u1", "context": {"tenant": "acme", "roles": "reader",
                                                 "sub": "u1"},
                "policyDocument": {"Statement": [{"Effect": "Allow"}]}}

    def api(event, context):
        seen["api"] = event
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"ok": True})}

    gateway = Gateway(api, authorizer, _routes(ApiRoute("GET", "/events/{event_id}",
                                                        Permission.READ),
                                               ApiRoute("GET", "/health", None)))
    response = gateway.call("GET", "/events/evt_1?a=1&a=2&b=x",
                            {"Authorization": "Bearer t", "X-Thing": "y"})
    assert response.status == 200 and json.loads(response.body) == {"ok": True}
    assert seen["authorizer"]["type"] == "TOKEN"
    assert seen["authorizer"]["authorizationToken"] == "Bearer t"
    assert seen["authorizer"]["methodArn"].endswith("/local/GET/events/evt_1")
    event = seen["api"]
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/events/{event_id}", "/events/evt_1", "GET")
    assert event["pathParameters"] == {"event_id": "evt_1"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["X-Thing"] == "y"
    assert event["requestContext"]["authorizer"] == {"tenant": "acme", "roles": "reader",
                                                     "sub": "u1", "principalId": "u1"}
    assert event["body"] is None and event["isBase64Encoded"] is False

    seen.clear()
    assert gateway.call("GET", "/health").status == 200
    assert "authorizer" not in seen and "authorizer" not in seen["api"]["requestContext"]


def test_the_gateway_answers_401_403_and_413_itself():
    def deny(event, context):
        return {"principalId": "u", "policyDocument": {"Statement": [{"Effect": "Deny"}]},
                "context": {"tenant": "t"}}

    def refuse(event, context):
        raise Exception("Unauthorized")

    def api(event, context):
        raise AssertionError("the API must not be called")

    routes = _routes(ApiRoute("POST", "/events", Permission.PUBLISH))
    assert Gateway(api, refuse, routes).call("POST", "/events").status == 401
    assert Gateway(api, refuse, routes).call(
        "POST", "/events", {"Authorization": "Bearer x"}).status == 401
    assert Gateway(api, deny, routes).call(
        "POST", "/events", {"Authorization": "Bearer x"}).status == 403
    too_big = Gateway(api, deny, routes, max_body_bytes=10).call("POST", "/events", {},
                                                                  b"x" * 11)
    assert too_big.status == 413
    assert too_big.headers["Content-Type"] == "application/problem+json"


def _routes(*routes: ApiRoute) -> RouteTable:
    table = RouteTable()
    for route in routes:
        table.add(route)
    return table


def test_the_gateway_refuses_a_negative_or_oversized_content_length_without_reading():
    for headers, status in [({"Content-Length": "-1"}, 400), ({"Content-Length": "+5"}, 400),
                            ({"Content-Length": "abc"}, 400),
                            ({"Content-Length": str(MAX_REQUEST_BYTES + 1)}, 413)]:
        length, refused = body_length(headers, MAX_REQUEST_BYTES)
        assert refused is not None and refused.status == status, headers
        assert length == 0
    assert body_length({"Content-Length": "12"}, MAX_REQUEST_BYTES) == (12, None)
    assert body_length({}, MAX_REQUEST_BYTES) == (0, None)


def test_the_router_must_resolve_the_route_whose_permission_was_checked():
    from types import SimpleNamespace

    from workflows.api.resolver import _the_router_resolved_the_checked_route

    checked = ApiRoute("GET", "/events", Permission.READ)
    event = SimpleNamespace(http_method="POST", path="/events/")

    def resolved(method: str, path: str) -> SimpleNamespace:
        return SimpleNamespace(context={"route": checked, "_route": SimpleNamespace(
            method=method, openapi_path=path)}, current_event=event)

    def next_middleware(app):
        return "handled"

    assert _the_router_resolved_the_checked_route(resolved("GET", "/events"),
                                                  next_middleware) == "handled"
    refused = _the_router_resolved_the_checked_route(resolved("POST", "/events"),
                                                     next_middleware)
    assert refused.status_code == 404
