"""The console on `stepwire local` comes from the API function, as in AWS: the local gateway
routes `/console/` to the `/console` resource (the slash kept in the proxy event's `path`),
checks the Host first, and serves none of the files itself."""

from collections.abc import Iterator

import pytest

from stepwire.emulation.cloudwatch import MetricsRecorder
from stepwire.gateway.console_routes import LocalConsole
from tests.functional.api.api_harness import ApiEnv, api_env, json_of

pytestmark = pytest.mark.functional

OWN_HOST = {"Host": "127.0.0.1:8080"}


@pytest.fixture(scope="module")
def env() -> Iterator[ApiEnv]:
    with api_env() as running:
        running.gateway.mount(LocalConsole(sfn=None, metrics=MetricsRecorder(),
                                           host="127.0.0.1", port=8080))
        yield running


@pytest.fixture
def api_events(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The proxy events the API function receives."""
    seen: list[dict] = []
    handler = env.gateway._api

    def recording(event, context):
        seen.append(event)
        return handler(event, context)

    monkeypatch.setattr(env.gateway, "_api", recording)
    return seen


def test_the_page_comes_from_the_api_function_with_the_path_as_requested(env, api_events):
    page = env.gateway.call("GET", "/console/", OWN_HOST)

    assert page.status == 200 and b'<div id="app">' in page.body
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    [event] = api_events
    assert (event["resource"], event["path"]) == ("/console", "/console/")
    assert "authorizer" not in event["requestContext"]  # a public route: no token asked


def test_a_file_is_the_asset_resource_and_the_bare_path_redirects(env, api_events):
    script = env.gateway.call("GET", "/console/tenants.js", OWN_HOST)
    bare = env.gateway.call("GET", "/console", OWN_HOST)

    assert script.status == 200 and b"export function tenantsPage" in script.body
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (bare.status, bare.headers["Location"]) == (302, "console/")
    assert [(e["resource"], e["pathParameters"]) for e in api_events] == [
        ("/console/{asset}", {"asset": "tenants.js"}), ("/console", None)]


def test_an_unknown_file_is_the_apis_404(env):
    missing = env.gateway.call("GET", "/console/nothing.js", OWN_HOST)

    assert missing.status == 404
    assert json_of(missing)["detail"] == "no console file 'nothing.js'"


def test_a_rebound_host_is_refused_before_the_api_is_called(env, api_events):
    refused = env.gateway.call("GET", "/console/", {"Host": "rebind.attacker.example:8080"})

    assert refused.status == 403 and b"DNS rebinding" in refused.body
    assert api_events == []


def test_another_routes_trailing_slash_reaches_its_resource_and_is_refused_by_the_api(env):
    # As API Gateway: /health/ is the /health resource's, public, and the API names the slash
    response = env.gateway.call("GET", "/health/", OWN_HOST)

    assert response.status == 404
    assert "no trailing slash" in json_of(response)["detail"]
