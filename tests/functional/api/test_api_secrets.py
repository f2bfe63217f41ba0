"""Answers that carry a subscription's secret, and how many secrets sign (issue 22, findings 8
and 9): never cached; a rotation keeps the current and the previous secret only, and can
expire the previous one at once (a leaked secret)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.api.api_harness import ApiEnv, api_env, json_of

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        yield running


@pytest.fixture
def subscription(env: ApiEnv) -> tuple[str, str, str]:
    """(token, subscription id, its first secret)"""
    token = env.token("rotations", ["admin"])
    created = env.call("POST", "/subscriptions", token=token, body={
        "url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
    assert created.status == 201
    assert created.headers["Cache-Control"] == "no-store"
    return token, json_of(created)["id"], json_of(created)["secret"]


def test_an_answer_with_a_secret_is_never_stored_and_others_are_not_marked(env, subscription):
    token, sub, _ = subscription
    rotated = env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token)
    shown = env.call("GET", f"/subscriptions/{sub}", token=token)

    assert rotated.status == 200 and "secret" in json_of(rotated)
    assert rotated.headers["Cache-Control"] == "no-store"
    assert "secret" not in json_of(shown) and "Cache-Control" not in shown.headers


def test_many_rotations_leave_two_secrets_signing(env, subscription):
    token, sub, first = subscription
    secrets = [first]
    for _ in range(5):
        rotated = env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token)
        secrets.append(json_of(rotated)["secret"])

    # The current and the one before, for 24 h: a webhook carries two signatures, not six.
    assert env.store.signing_secrets("rotations", sub) == [secrets[-1], secrets[-2]]
    expires = datetime.fromisoformat(json_of(rotated)["previous_secret_expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)


def test_a_leaked_secret_stops_signing_at_once(env, subscription):
    token, sub, first = subscription
    env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token)

    rotated = env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token,
                       body={"expire_previous": True})

    assert rotated.status == 200
    assert env.store.signing_secrets("rotations", sub) == [json_of(rotated)["secret"]]
    assert datetime.fromisoformat(json_of(rotated)["previous_secret_expires_at"]) <= \
        datetime.now(UTC)


@pytest.mark.parametrize("body", [{"expire_previous": "yes"}, {"expire_previous": 1}])
def test_expire_previous_must_be_a_boolean(env, subscription, body):
    token, sub, first = subscription
    refused = env.call("POST", f"/subscriptions/{sub}/rotate-secret", token=token, body=body)

    assert refused.status == 422
    assert env.store.signing_secrets("rotations", sub) == [first]
