"""A burst of concurrent clients on POST /events over real HTTP: every one is answered."""

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.api.test_api_http import stepwire_token
from tests.e2e.conftest import LocalProcess, start_local, stop_local

pytestmark = pytest.mark.e2e

CLIENTS = 96


@pytest.fixture(scope="module")
def throttled() -> Iterator[LocalProcess]:
    # A usage plan far below the burst, so that both answers (202 and 429) are exercised.
    running = start_local("--api-rate", "5", "--api-burst", "24")
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, output


def test_a_burst_of_concurrent_clients_gets_202_or_429_with_retry_after_never_a_reset(
        throttled: LocalProcess):
    # Given 96 clients, each on its own connection, released at the same instant
    token = stepwire_token(throttled, "burst", "publisher")
    start = threading.Barrier(CLIENTS)
    answers: list[httpx.Response | Exception] = []
    lock = threading.Lock()

    def publish(n: int) -> None:
        with httpx.Client(base_url=throttled.api_url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            start.wait()
            try:
                answer: httpx.Response | Exception = client.post(
                    "/events", json={"type": "burst.tested", "data": {"n": n}})
            except httpx.TransportError as exc:  # a reset or refused connection
                answer = exc
        with lock:
            answers.append(answer)

    # When they all POST /events at once
    threads = [threading.Thread(target=publish, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every client got an HTTP answer: 202, or 429 with a Retry-After
    errors = [a for a in answers if isinstance(a, Exception)]
    assert not errors, f"{len(errors)} of {CLIENTS} connections failed: {errors[:3]}"
    statuses = sorted({a.status_code for a in answers})
    assert len(answers) == CLIENTS and set(statuses) <= {202, 429}, statuses
    throttled_answers = [a for a in answers if a.status_code == 429]
    assert throttled_answers and all(int(a.headers["Retry-After"]) >= 1
                                     for a in throttled_answers)
    assert sum(a.status_code == 202 for a in answers) >= 24
