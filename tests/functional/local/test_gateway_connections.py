"""The local gateway's connections under a slow-client attack (issue 22, finding 7): a request
head that never ends is cut off, and one client cannot hold every connection."""

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import waitress

from stepwire.gateway.connections import guard_connections
from tests.support.receiver import free_port

pytestmark = pytest.mark.functional


def hello(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def serve(**guards) -> Iterator[int]:
    port = free_port()
    server = waitress.create_server(hello, host="127.0.0.1", port=port, threads=2,
                                    channel_timeout=60, cleanup_interval=1)
    guard_connections(server, **guards)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def slow_heads_cut() -> Iterator[int]:
    yield from serve(head_timeout=0.5)


@pytest.fixture
def two_per_client() -> Iterator[int]:
    yield from serve(per_client=2, cap_loopback=True)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_request_head_that_never_ends_is_cut_off(slow_heads_cut: int) -> None:
    slow = socket.create_connection(("127.0.0.1", slow_heads_cut))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
    started = time.monotonic()

    assert closed_within(slow, 5), "the slow head was not cut off"
    assert time.monotonic() - started < 5
    assert httpx.get(f"http://127.0.0.1:{slow_heads_cut}/").text == "ok"


def test_one_client_holds_at_most_its_share_of_connections(two_per_client: int) -> None:
    held = [socket.create_connection(("127.0.0.1", two_per_client)) for _ in range(2)]
    for sock in held:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # heads under way: the connections stay open
    time.sleep(0.3)  # accepted by the server
    third = socket.create_connection(("127.0.0.1", two_per_client))

    assert closed_within(third, 3), "a third connection of the same client was served"
    for sock in held:
        sock.close()
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{two_per_client}/").text == "ok"  # freed: served again
