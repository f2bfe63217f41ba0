"""The console reached the way the cloud serves it (issue 21): a browser's request becomes the
REST proxy event API Gateway builds, under a stage prefix, and goes straight to the API
function's handler; no local gateway, no `stepwire local`."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from lambdas import handle_api_request
from stepwire.host.lambda_host import LambdaContext
from tests.browser.conftest import screenshot
from tests.browser.test_console import css, until
from tests.functional.api.api_harness import emulated_aws
from workflows.api.app import ROUTES

pytestmark = pytest.mark.browser

STAGE = "v1"
# One Lambda environment takes one event at a time.
ONE_AT_A_TIME = threading.Lock()


def proxy_event(method: str, path: str, headers: dict[str, str]) -> dict[str, Any] | None:
    """API Gateway's event for a path below the stage, or None when it has no such resource.
    As API Gateway routes: the resource is matched with one trailing slash removed, `path`
    keeps it."""
    found = ROUTES.find(method, path[:-1] if path.endswith("/") and path != "/" else path)
    if found is None or not found[0].public:  # the rest is the authorizer's, not this test's
        return None
    route, parameters = found
    return {"resource": route.path, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": parameters or None, "stageVariables": None,
            "requestContext": {"resourcePath": route.path, "httpMethod": method,
                               "path": f"/{STAGE}{path}", "stage": STAGE,
                               "requestId": "browser-test", "identity": {"sourceIp": "127.0.0.1"}},
            "body": None, "isBase64Encoded": False}


class ApiGatewayStage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server calls it by this name
        path = self.path.split("?", 1)[0]
        event = proxy_event("GET", path.removeprefix(f"/{STAGE}"),
                            dict(self.headers.items())) if path.startswith(f"/{STAGE}/") else None
        if event is None:
            status, headers = 403, {"Content-Type": "application/json"}
            body = json.dumps({"message": "Missing Authentication Token"}).encode()
        else:
            with ONE_AT_A_TIME:
                result = handle_api_request.lambda_handler(event, LambdaContext(
                    function_name="stepwire-api",
                    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:api"))
            status, headers = result["statusCode"], result.get("headers") or {}
            body = (result.get("body") or "").encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def stage_url() -> Iterator[str]:
    """The API function's environment (moto in process), behind a stage of the test server."""
    with emulated_aws():
        server = ThreadingHTTPServer(("127.0.0.1", 0), ApiGatewayStage)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/{STAGE}"
        finally:
            server.shutdown()
            thread.join(timeout=5)


def test_the_console_renders_its_sign_in_through_the_api_function(browser: WebDriver,
                                                                   stage_url: str) -> None:
    # When a browser opens the console under the stage, without the trailing slash
    browser.get(f"{stage_url}/console")
    # Then it lands on /v1/console/ (the relative redirect kept the stage) and the page's
    # modules, all served by the API function, render the sign-in form
    css(browser, "form.sign-in textarea")
    until(browser, lambda d: d.current_url.split("#")[0] == f"{stage_url}/console/")
    # And the API it signs in to is the stage it was served from
    api = browser.find_element("css selector", "form.sign-in input[name=api]")
    assert api.get_attribute("value") == stage_url
    screenshot(browser, "console-cloud-path")


def test_the_page_and_its_files_carry_the_policy_through_the_api_function(
        stage_url: str) -> None:
    page = httpx.get(f"{stage_url}/console/")
    script = httpx.get(f"{stage_url}/console/app.js")

    for answer in (page, script):
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
