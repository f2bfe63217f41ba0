"""The webhook POST's one deadline against real local servers that trickle: a byte at a time
is fast enough for every per-read timeout, so only the whole-request deadline ends the
attempt, as a retryable transport error (the Deliver function then returns before its own
Lambda timeout). And a DNS lookup that hangs ends as a retryable error, not a permanent one."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from workflows.delivery import target_guard
from workflows.delivery.attempt import DeliveryConfig, deliver_notification
from workflows.delivery.http import PinnedConnections, TransportError, post
from workflows.delivery.target_guard import ResolutionTimedOut, ResolvedTarget, TargetPolicy
from workflows.kernel.errors import DeliveryRetryable, InvalidTarget
from workflows.kernel.ids import new_id
from workflows.kernel.models import DeliveryRequest, Event, NotificationTarget, utc_now
from workflows.kernel.settings import get_settings
from workflows.operations.subscriptions import NewSubscription, create_subscription
from workflows.storage import Store

pytestmark = pytest.mark.functional

DEADLINE = 0.5  # the request timeout of these tests, in seconds
TRICKLE_EVERY = 0.02  # a byte every 20 ms: far inside any per-read timeout
TRICKLE_FOR = 20.0  # the server gives up after this long: a test can never hang
LOCAL = TargetPolicy(allow_private=True, require_https=False)


class TricklingServer:
    """Reads the request head, then sends `head` at once and `trickled` one byte at a time."""

    def __init__(self, head: bytes, trickled: bytes) -> None:
        self.head, self.trickled = head, trickled
        self.sent = 0  # trickled bytes sent
        self.finished = threading.Event()  # the whole trickle was sent
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._listener.settimeout(TRICKLE_FOR)
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            try:
                connection.sendall(self.head)
                for byte in self.trickled:
                    if self._stop.wait(TRICKLE_EVERY):
                        return
                    connection.sendall(bytes([byte]))
                    self.sent += 1
                self.finished.set()
            except OSError:
                return  # the client shut the connection down

    def target(self) -> ResolvedTarget:
        return ResolvedTarget(url=f"http://hook.test:{self.port}/hook", scheme="http",
                              host="hook.test", port=self.port, address="127.0.0.1")

    def __enter__(self) -> "TricklingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)


def trickle_count(seconds: float) -> int:
    """Bytes that take `seconds` to trickle."""
    return int(seconds / TRICKLE_EVERY)


def post_to(server: TricklingServer) -> TransportError:
    with pytest.raises(TransportError) as raised:
        post(server.target(), b'{"id":"evt_1"}', {"content-type": "application/json"},
             connect_timeout=DEADLINE, request_timeout=DEADLINE, retry_after_cap=60,
             connections=PinnedConnections(connect_timeout=DEADLINE,
                                           request_timeout=DEADLINE))
    return raised.value


def test_headers_sent_a_byte_at_a_time_end_at_the_deadline() -> None:
    # Given a receiver that answers its status line, then trickles its headers for 20 s
    headers = b"x-slow: " + b"a" * trickle_count(TRICKLE_FOR) + b"\r\n\r\n"
    with TricklingServer(b"HTTP/1.1 200 OK\r\n", headers) as server:
        # When a webhook is posted to it
        error = post_to(server)

        # Then the attempt ends as a timeout of the whole request, long before the trickle
        # would have ended, its latency the deadline's
        assert "timed out after 0.5 s (the whole request)" in str(error)
        assert error.latency_ms >= DEADLINE * 1000
        assert not server.finished.is_set()
        assert 0 < server.sent < len(headers)


def test_a_body_sent_a_byte_at_a_time_ends_at_the_deadline() -> None:
    # Given a receiver that answers 200 with a 1,000-byte body it sends a byte every 20 ms
    body = b"x" * 1000
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
    with TricklingServer(head, body) as server:
        # When a webhook is posted to it
        error = post_to(server)

        # Then the attempt ends as a timeout of the whole request: a 200 whose body never
        # ends within the deadline is not a delivery
        assert "timed out after 0.5 s (the whole request)" in str(error)
        assert error.latency_ms >= DEADLINE * 1000
        assert not server.finished.is_set()
        assert 0 < server.sent < len(body)


class KeepAliveServer:
    """Answers 204 to every request, keeping its connections open; counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TRICKLE_FOR)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            while True:
                connection, _ = self._listener.accept()
                self.connections += 1
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()
        except OSError:
            return

    @staticmethod
    def _answer(connection: socket.socket) -> None:
        with connection:
            pending = b""
            while chunk := connection.recv(4096):
                pending += chunk
                while b"\r\n\r\n" in pending:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(pending) < length:
                        pending += connection.recv(4096)
                    pending = pending[length:]
                    connection.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")

    def close(self) -> None:
        self._listener.close()


def test_a_kept_alive_connection_outlives_the_deadline_of_the_request_it_served() -> None:
    # Given a prompt receiver, and one pool of kept-alive connections to it
    server = KeepAliveServer()
    target = ResolvedTarget(url=f"http://hook.test:{server.port}/hook", scheme="http",
                            host="hook.test", port=server.port, address="127.0.0.1")
    connections = PinnedConnections(connect_timeout=DEADLINE, request_timeout=DEADLINE)
    try:
        # When a webhook is posted, the first request's deadline passes, and another is posted
        first = post(target, b"{}", {}, connect_timeout=DEADLINE, request_timeout=DEADLINE,
                     retry_after_cap=60, connections=connections)
        time.sleep(DEADLINE * 2)  # let the first request's deadline pass
        second = post(target, b"{}", {}, connect_timeout=DEADLINE, request_timeout=DEADLINE,
                      retry_after_cap=60, connections=connections)
    finally:
        server.close()

    # Then both are answered, on the one connection: the first deadline, met, shut nothing
    assert (first.status_code, second.status_code) == (204, 204)
    assert server.connections == 1


@contextmanager
def hanging_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """getaddrinfo that blocks until the test ends; yields how many lookups started."""
    release, started = threading.Event(), []

    def hang(host: str, port: int, *args: object, **kwargs: object) -> list:
        started.append(host)
        release.wait(TRICKLE_FOR)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(target_guard.socket, "getaddrinfo", hang)
    try:
        yield lambda: len(started)
    finally:
        release.set()


def test_a_dns_lookup_that_hangs_ends_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a resolver that never answers
    with hanging_resolver(monkeypatch) as lookups:
        # When a webhook URL is resolved with a bound of 0.2 s
        with pytest.raises(ResolutionTimedOut) as raised:
            target_guard.resolve_target("http://hook.test/hook", LOCAL, timeout=0.2)

    # Then the lookup was made and given up at the bound, with its reason
    assert lookups() == 1
    assert raised.value.detail == "the host 'hook.test' did not resolve within 0.2 s"
    assert raised.value.latency_ms == 200
    # and where a subscription is saved, that is a target that does not resolve (422)
    assert isinstance(raised.value, InvalidTarget)


def test_a_delivery_whose_dns_hangs_is_a_retryable_attempt(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a notification to a subscription whose host resolved when it was saved
    monkeypatch.setenv("STEPWIRE_ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("STEPWIRE_REQUIRE_HTTPS", "false")
    get_settings.cache_clear()
    tenant = new_id("tenant")
    monkeypatch.setattr(target_guard.socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))])
    subscription = create_subscription(tenant, NewSubscription(url="http://hook.test:9/hook",
                                                               event_types=["*"]),
                                       store=store, policy=LOCAL)
    event = Event(id=new_id("evt"), tenant=tenant, type="order.created", data={"n": 1},
                  created_at=utc_now())
    store.put_event_if_new(event, "test")
    target = NotificationTarget(tenant=tenant, event_id=event.id,
                                subscription_id=subscription.id, webhook_id=new_id("msg"),
                                execution_name=new_id("exec"))
    store.create_notifications([target])
    monkeypatch.setattr(target_guard, "RESOLVE_TIMEOUT_SECONDS", 0.2)

    # When it is attempted while the resolver hangs
    with hanging_resolver(monkeypatch), pytest.raises(DeliveryRetryable) as raised:
        deliver_notification(DeliveryRequest(notification=target, attempt=0,
                                             execution_arn="arn:exec"),
                             store=store, config=DeliveryConfig.from_settings(get_settings()))
    get_settings.cache_clear()

    # Then it is a retryable failure (the schedule goes on), recorded as an attempt
    assert raised.value.detail == "the host 'hook.test' did not resolve within 0.2 s"
    attempts = store.attempts_of(target)
    assert [(a.status_code, a.error) for a in attempts] == [
        (None, "the host 'hook.test' did not resolve within 0.2 s")]
