"""The console's routes on the local gateway, as an attacker tries them (issue 22): a rebound
Host name, the instance-wide metrics. (The console's files and their headers come from the API
function: tests/unit/api/test_console_routes.py.)"""

import pytest

from stepwire.emulation.cloudwatch import MetricsRecorder
from stepwire.gateway.console_routes import LocalConsole, console_hosts

pytestmark = pytest.mark.unit


def no_token(token: str | None) -> dict | None:
    return None


def console(host: str = "127.0.0.1", port: int | None = 8080) -> LocalConsole:
    return LocalConsole(sfn=None, metrics=MetricsRecorder(), host=host, port=port)


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080",
                                  "LOCALHOST:8080"])
def test_the_console_answers_to_its_own_loopback_names(host: str) -> None:
    # None: the Host passed, the API function serves the page
    assert console()("GET", "/console/", {"Host": host}, no_token) is None


@pytest.mark.parametrize("path", ["/", "/console", "/console/", "/console/app.js",
                                  "/local/metrics"])
@pytest.mark.parametrize("host", ["rebind.attacker.example:8080", "127.0.0.1:9999", ""])
def test_a_rebound_host_gets_no_console_route(path: str, host: str) -> None:
    answer = console()("GET", path, {"Host": host} if host else {}, no_token)

    assert answer is not None and answer.status == 403
    assert b"DNS rebinding" in answer.body


def test_the_api_routes_are_left_to_the_api() -> None:
    assert console()("GET", "/events", {"Host": "rebind.attacker.example:8080"},
                     no_token) is None


def test_the_host_address_is_one_of_the_names_and_a_network_address_is_not_checked() -> None:
    assert console_hosts("127.0.0.2", 8080) == {"127.0.0.1:8080", "localhost:8080",
                                                "[::1]:8080", "127.0.0.2:8080"}
    assert console_hosts("::1", 80) == {"127.0.0.1:80", "localhost:80", "[::1]:80"}
    assert console_hosts("0.0.0.0", 8080) is None
    assert console_hosts("192.168.1.5", 8080) is None
    assert console("0.0.0.0")("GET", "/console/", {"Host": "devbox.lan:8080"}, no_token) is None


def principal_with(roles: str):
    return lambda token: {"tenant": "shop", "roles": roles, "sub": "u", "principalId": "u"}


@pytest.mark.parametrize("roles", ["reader", "publisher", "reader,publisher", ""])
def test_the_instance_wide_metrics_need_the_admin_role(roles: str) -> None:
    answer = console()("GET", "/local/metrics", {"Host": "127.0.0.1:8080",
                                                 "Authorization": "Bearer t"},
                       principal_with(roles))
    assert answer is not None and answer.status == 403
    assert b"admin role" in answer.body


def test_an_admin_reads_the_metrics() -> None:
    answer = console()("GET", "/local/metrics", {"Host": "127.0.0.1:8080",
                                                 "Authorization": "Bearer t"},
                       principal_with("reader,admin"))
    assert answer is not None and answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_local_answers_carry_the_security_headers() -> None:
    answer = console()("GET", "/local/metrics", {"Host": "localhost:8080",
                                                 "Authorization": "Bearer t"},
                       principal_with("admin"))

    assert answer is not None and answer.status == 200
    policy = answer.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"
