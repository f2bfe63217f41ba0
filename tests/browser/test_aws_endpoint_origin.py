"""A web page on another origin cannot read the local AWS endpoint (issue 22, finding 1): a page
served on another localhost port fetches GetSecretValue, as an attacker's page would, and
Chromium refuses to hand it the answer."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import LocalProcess
from tests.support.receiver import free_port

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><body><p id="preflighted">pending</p><p id="simple">pending</p>
<script>
function report(id, request) {
  const show = (text) => { document.getElementById(id).textContent = text; };
  request.then(r => r.text()).then(t => show("read " + t)).catch(e => show("failed " + e));
}
// What an attacker's page sends: AWS's JSON protocol with a fake SigV4 header (preflighted)...
report("preflighted", fetch("ENDPOINT/", {method: "POST",
  body: '{"SecretId": "stepwire/jwt-signing-key"}',
  headers: {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.GetSecretValue",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x/20261206/us-east-1/" +
              "secretsmanager/aws4_request, SignedHeaders=host, Signature=0"}}));
// ...and a simple request (no preflight), the chaos API's rules.
report("simple", fetch("ENDPOINT/_stepwire/chaos/faults"));
</script></body></html>"""


@pytest.fixture
def other_origin(local: LocalProcess) -> Iterator[str]:
    page = PAGE.replace("ENDPOINT", local.aws_endpoint).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_a_page_on_another_origin_cannot_read_the_aws_endpoint(
        browser: WebDriver, other_origin: str) -> None:
    browser.get(other_origin)

    def results(driver: WebDriver) -> list[str] | None:
        texts = [driver.find_element(By.ID, i).text for i in ("preflighted", "simple")]
        return None if "pending" in texts else texts

    preflighted, simple = WebDriverWait(browser, 30, poll_frequency=0.1).until(results)
    # The console's errors are Chromium's CORS refusals, as expected: taken off the log the
    # browser fixture checks.
    refusals = [entry["message"] for entry in browser.get_log("browser")]

    assert preflighted.startswith("failed TypeError"), preflighted
    assert simple.startswith("failed TypeError"), simple
    assert "signing" not in preflighted + simple
    assert any("CORS" in message for message in refusals), refusals
