"""The request body checks that run before any JSON parser: size, type, encoding, depth."""

import base64
import json

import pytest

from workflows.api.request_body import MAX_BODY_DEPTH, refusal
from workflows.kernel.payload_limits import MAX_DATA_DEPTH, depth_of, text_nests_deeper_than

pytestmark = pytest.mark.unit


def nested(depth: int) -> dict:
    data: dict = {"leaf": True}
    for _ in range(depth - 1):
        data = {"a": data}
    return data


def proxy(body: str | bytes, content_type: str | None = "application/json") -> dict:
    encoded = isinstance(body, bytes)
    return {"body": base64.b64encode(body).decode() if encoded else body,
            "isBase64Encoded": encoded,
            "headers": {"Content-Type": content_type} if content_type else {}}


@pytest.mark.parametrize("depth", [1, 2, 31, 32, 33, 500])
def test_depth_of_text_and_of_values_agree(depth):
    data = nested(depth)
    assert depth_of(data) == depth
    assert text_nests_deeper_than(json.dumps(data), depth - 1)
    assert not text_nests_deeper_than(json.dumps(data), depth)


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"s": "[[[[{{{{\\\"" * 100, "t": ["]]]"]})
    assert not text_nests_deeper_than(text, 2)
    assert text_nests_deeper_than(text, 1)


def test_fifty_thousand_levels_are_refused_without_recursion():
    body = "[" * 50_000 + "]" * 50_000
    problem = refusal(proxy(body), takes_body=True)
    assert problem is not None and problem.status_code == 400
    assert f"deeper than {MAX_BODY_DEPTH}" in problem.body


def test_data_at_the_limit_passes_and_one_more_is_refused():
    at_limit = json.dumps({"type": "a.b", "data": nested(MAX_DATA_DEPTH)})
    assert refusal(proxy(at_limit), takes_body=True) is None
    over = json.dumps({"type": "a.b", "data": nested(MAX_DATA_DEPTH + 1)})
    assert refusal(proxy(over), takes_body=True).status_code == 400


@pytest.mark.parametrize(("content_type", "status"), [
    ("text/plain", 415), (None, 415), ("application/x-www-form-urlencoded", 415),
    ("application/json; charset=utf-8", None), ("application/merge-patch+json", None),
    ("APPLICATION/JSON", None)])
def test_the_content_type_must_be_json(content_type, status):
    problem = refusal(proxy('{"type": "a"}', content_type), takes_body=True)
    assert (problem.status_code if problem else None) == status
    if problem:
        assert "Content-Type: application/json" in problem.body


def test_bytes_that_are_not_utf8_are_a_400_naming_the_byte():
    problem = refusal(proxy(b'{"type": "\xff\xfe"}'), takes_body=True)
    assert problem.status_code == 400 and "not valid UTF-8 (byte 10)" in problem.body


def test_a_valid_base64_body_is_handed_on_as_text():
    event = proxy('{"type": "é"}'.encode())
    assert refusal(event, takes_body=True) is None
    assert event["body"] == '{"type": "é"}' and event["isBase64Encoded"] is False


def test_a_body_above_the_limit_is_a_413_even_where_no_body_is_expected():
    problem = refusal(proxy("x" * (256 * 1024 + 1)), takes_body=False)
    assert problem.status_code == 413
    assert refusal(proxy("ignored"), takes_body=False) is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_content_type_that_is_not_json_is_a_415_even_without_a_body(content_type):
    refused = refusal(proxy("", content_type), takes_body=True)
    assert refused is not None and refused.status_code == 415
    assert content_type in json.loads(refused.body)["detail"]


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8",
                                          "application/merge-patch+json"])
def test_json_in_any_case_is_handed_to_the_router_as_application_json(content_type):
    # The router matches the media type case-sensitively: a 500 once came from there.
    for body in ("{}", ""):
        event = {**proxy(body, content_type),
                 "multiValueHeaders": {"content-type": [content_type]}}
        assert refusal(event, takes_body=True) is None
        assert event["headers"]["Content-Type"] == "application/json"
        assert event["multiValueHeaders"]["content-type"] == ["application/json"]


def test_no_content_type_and_no_body_is_fine_where_the_body_is_optional():
    assert refusal(proxy("", None), takes_body=True) is None
