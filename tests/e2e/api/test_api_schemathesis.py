"""Property-based testing of the HTTP API with schemathesis, against the gateway's own
/openapi.json, authenticated: no 5xx and no response outside the documented schema.

The short run is part of `make test`; `make test-api-fuzz` runs more examples per operation
(STEPWIRE_FUZZ_EXAMPLES).
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import ROOT, LocalProcess, start_local, stop_local

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("STEPWIRE_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProcess]:
    # A usage plan generous enough that the fuzzer measures the API, not the throttle; only
    # public webhook targets, so the subscriptions it creates deliver nothing (the fuzzer's
    # loopback URLs would otherwise keep the engine busy with retries and redrives).
    running = start_local("--api-rate", "100000", "--api-burst", "100000",
                          "--deny-private-targets")
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, output


@pytest.fixture(scope="module")
def token(local: LocalProcess) -> str:
    port = str(urlsplit(local.aws_endpoint).port)
    return subprocess.run([sys.executable, "-m", "stepwire.cli", "token", "--tenant",
                           "fuzz", "--roles", "admin", "--aws-port", port],
                          cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def _operations(api_url: str) -> list:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation, api_url: str, token: str, by_status: dict[int, int]) -> None:
    # "Schema-valid data is accepted" is skipped where the contract itself refuses some
    # schema-valid input: a subscription URL must resolve to an allowed address (SSRF guard,
    # 422), a cursor that the API did not issue is a 400, and an Idempotency-Key (or event id)
    # reused with another body is a 422.
    method, path = operation.method.upper(), operation.path
    semantic = (path.startswith("/subscriptions") and method in ("POST", "PATCH")) or (
        method == "GET" and path in ("/subscriptions", "/events", "/dead-letters")) or (
        method == "POST" and path == "/events")
    excluded = [positive_data_acceptance] if semantic else []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:
        response = case.call_and_validate(base_url=api_url,
                                          headers={"Authorization": f"Bearer {token}"},
                                          excluded_checks=excluded,
                                          timeout=29)  # API Gateway's integration timeout
        by_status[response.status_code] = by_status.get(response.status_code, 0) + 1

    run()


def test_the_api_keeps_its_contract(local: LocalProcess, token: str,
                                    request: pytest.FixtureRequest):
    """Every operation of the schema, EXAMPLES generated cases each, all default checks."""
    failures: list[str] = []
    by_status: dict[int, int] = {}
    operations = _operations(local.api_url)
    assert len(operations) >= 11
    for operation in operations:
        try:
            _fuzz(operation, local.api_url, token, by_status)
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    cases = sum(by_status.values())
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    summary = (f"schemathesis: {len(operations)} operations, {cases} cases, responses by "
               f"status {dict(sorted(by_status.items()))}")
    if reporter is not None:
        reporter.write_line(summary)
    assert not failures, "\n\n".join(failures)
    assert not [status for status in by_status if status >= 500]


# What the schema cannot describe: any bytes as the body, under any Content-Type (or none).
CONTENT_TYPES = st.sampled_from([
    None, "", "application/json", "APPLICATION/JSON; charset=UTF-8", "text/plain",
    "application/json; charset=latin-1", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/problem+json", "*/*", "application/xml"])
RAW_BODIES = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    st.integers(min_value=30, max_value=60_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=30, max_value=60_000).map(
        lambda n: b'{"type":"a.b","data":' + b'{"a":' * n + b"1" + b"}" * n + b"}"),
    st.binary(min_size=1, max_size=64).map(lambda junk: b'{"type":"a.b","data":{"x":"'
                                           + junk + b'"}}'),
)


def test_any_body_under_any_content_type_is_a_clear_answer_never_a_5xx(local: LocalProcess,
                                                                       token: str):
    """Every operation that takes a body, raw bytes and Content-Types drawn by hypothesis: a
    2xx, or a problem+json with a detail; never a 5xx."""
    with_body = [op for op in _operations(local.api_url)
                 if op.method.upper() in ("POST", "PATCH") and op.body]
    assert len(with_body) >= 4
    seen: dict[int, int] = {}
    with httpx.Client(base_url=local.api_url, timeout=29) as client:
        @given(operation=st.sampled_from(with_body), body=RAW_BODIES,
               content_type=CONTENT_TYPES)
        @settings(max_examples=EXAMPLES * 8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(operation, body: bytes, content_type: str | None) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            if content_type is not None:
                headers["Content-Type"] = content_type
            path = re.sub(r"\{[^}]+\}", "fuzz_id", operation.path)
            response = client.request(operation.method.upper(), path, content=body,
                                      headers=headers)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (path, content_type, body[:80], response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["detail"], response.text

        run()
    assert any(400 <= status < 500 for status in seen), seen
