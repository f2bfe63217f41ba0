"""The console served by the API function: the proxy events API Gateway builds for `/console`,
`/console/` and `/console/{asset}`, answered with the files and their security headers."""

import json
from typing import Any

import pytest
from pydantic import ValidationError

from workflows.api import console_routes
from workflows.api.app import ROUTES, handle
from workflows.kernel.settings import Settings, get_settings

pytestmark = pytest.mark.unit

REQUIRED = {name: "x" for name in (
    "table_name", "idempotency_table_name", "dead_letter_queue_url", "ingest_state_machine_arn",
    "notification_state_machine_arn", "recovery_state_machine_arn", "data_key_secret_id",
    "jwt_secret_id")}


def proxy_event(path: str) -> dict[str, Any]:
    """What API Gateway (REST, proxy integration) hands the function: the resource matched with
    one trailing slash removed, the path as requested."""
    resource = "/console" if path in ("/console", "/console/") else "/console/{asset}"
    asset = path.removeprefix("/console/") if resource.endswith("}") else None
    return {"resource": resource, "path": path, "httpMethod": "GET", "headers": None,
            "multiValueHeaders": None, "queryStringParameters": None,
            "pathParameters": {"asset": asset} if asset else None,
            "requestContext": {"resourcePath": resource, "httpMethod": "GET",
                               "path": f"/v1{path}", "stage": "v1", "requestId": "r-1"},
            "body": None, "isBase64Encoded": False}


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    """The API function's environment, with the console framed by `frame_ancestors`."""
    def configure(frame_ancestors: str | None = None) -> None:
        for name, value in REQUIRED.items():
            monkeypatch.setenv(f"STEPWIRE_{name.upper()}", value)
        if frame_ancestors is not None:
            monkeypatch.setenv("STEPWIRE_CONSOLE_FRAME_ANCESTORS", frame_ancestors)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


def test_both_console_routes_are_public_routes_of_the_one_table():
    table = {(r.method, r.path): r for r in ROUTES}
    assert table[("GET", "/console")].public and table[("GET", "/console/{asset}")].public


def test_the_page_is_served_at_console_slash_through_the_api(settings_env):
    # Given the API function's environment (no frame-ancestors configured)
    settings_env()
    # When API Gateway delivers `/console/` (the /console resource, the slash kept in path)
    result = handle(proxy_event("/console/"), None)
    # Then the answer is the console's page with its security headers
    assert result["statusCode"] == 200
    assert "<script type=\"module\" src=\"app.js\"></script>" in result["body"]
    headers = result["headers"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_a_bare_console_is_sent_to_console_slash_relative_to_the_stage(settings_env):
    settings_env()
    result = handle(proxy_event("/console"), None)
    # `console/` resolves under the stage prefix (/v1/console → /v1/console/)
    assert (result["statusCode"], result["headers"]["Location"]) == (302, "console/")
    assert result["body"] == ""


@pytest.mark.parametrize(("name", "kind"), [("app.js", "text/javascript; charset=utf-8"),
                                            ("session.js", "text/javascript; charset=utf-8"),
                                            ("style.css", "text/css; charset=utf-8"),
                                            ("index.html", "text/html; charset=utf-8")])
def test_every_file_is_served_with_its_type(settings_env, name: str, kind: str):
    settings_env()
    result = handle(proxy_event(f"/console/{name}"), None)
    assert result["statusCode"] == 200 and result["body"]
    assert result["headers"]["Content-Type"] == kind
    assert result["body"] == (console_routes.STATIC / name).read_text(encoding="utf-8")


def test_a_file_the_browser_has_is_a_304_without_a_body(settings_env):
    settings_env()
    first = handle(proxy_event("/console/app.js"), None)
    tag = first["headers"]["ETag"]

    again = handle({**proxy_event("/console/app.js"),
                    "headers": {"If-None-Match": f'"stale", W/{tag}'}}, None)
    other = handle({**proxy_event("/console/style.css"), "headers": {"if-none-match": tag}},
                   None)

    assert (again["statusCode"], again["body"], again["headers"]["ETag"]) == (304, "", tag)
    assert "Content-Security-Policy" in again["headers"]
    assert other["statusCode"] == 200 and other["headers"]["ETag"] != tag


def test_a_configured_frame_ancestors_is_the_policy_and_drops_x_frame_options(settings_env):
    # Given a platform that embeds the console in its own portal
    settings_env("https://portal.example.com https://*.example.org 'self'")
    # When the page is loaded
    result = handle(proxy_event("/console/"), None)
    # Then the CSP names exactly those ancestors, and X-Frame-Options (DENY or nothing) is not
    # sent, since it would forbid what the CSP allows in browsers that read both
    policy = result["headers"]["Content-Security-Policy"]
    assert policy.endswith(
        "frame-ancestors https://portal.example.com https://*.example.org 'self'")
    assert "X-Frame-Options" not in result["headers"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


@pytest.mark.parametrize("name", ["missing.js", "..", ".hidden.js", "%2e%2e", "app.py",
                                  "..%2Fapi%2Fapp.py", "a\\..\\x.js", "index.html.bak",
                                  "a" * 5000 + ".js"])  # longer than a file name may be
def test_a_name_that_is_not_a_console_file_is_a_404(name: str):
    result = console_routes.answer(proxy_event(f"/console/{name}"), frame_ancestors="'none'")
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(result["body"])["detail"] == f"no console file {name[:100]!r}"


@pytest.mark.parametrize("path", ["/console/../workflows/api/app.py", "/console/a/app.js",
                                  "/console//app.js", "/console/app.js/"])
def test_a_path_with_a_separator_reaches_no_file(settings_env, path: str):
    # What API Gateway could route to /{proxy+} or /console/{asset}: never a file outside the
    # console's folder, never a file under another name
    settings_env()
    result = handle({**proxy_event(path), "resource": "/{proxy+}"}, None)
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/problem+json"


def test_only_console_slash_has_a_trailing_slash_exception():
    assert console_routes.resource_path("/console/") == "/console"
    for path in ("/health/", "/console/app.js/", "/events/", "/console//"):
        assert console_routes.resource_path(path) == path


@pytest.mark.parametrize("value", ["'self'", "https://app.example.com",
                                   "https://*.example.com:8443 'self'",
                                   "  https://a.example.com   https://b.example.com "])
def test_frame_ancestors_takes_self_and_https_origins(value: str):
    settings = Settings(**REQUIRED, console_frame_ancestors=value)
    assert settings.console_frame_ancestors == " ".join(value.split())


@pytest.mark.parametrize("value", ["", "*", "http://app.example.com", "https:", "'none' 'self'",
                                   "https://app.example.com/portal", "'unsafe-inline'",
                                   "https://a.example.com; script-src *", "data:",
                                   "https://*", "https://*.com", "https://a.*.example.com", "self"])
def test_any_other_frame_ancestors_is_a_settings_error(value: str):
    with pytest.raises(ValidationError, match="console_frame_ancestors"):
        Settings(**REQUIRED, console_frame_ancestors=value)
