"""One webhook POST over real HTTP: pinned to the checked address, no redirects, bounded time.

urllib3, which botocore already loads: the delivery function's cold start pays for no second
HTTP stack.

Bounded time: one deadline (the request timeout, 15 s by default) for connect, TLS, the
request, the response's headers and its body (workflows/delivery/request_deadline.py).
"""

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from typing import cast
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from workflows.delivery.request_deadline import (
    Deadline,
    DeadlineHTTPConnection,
    DeadlineHTTPSConnection,
)
from workflows.delivery.target_guard import ResolvedTarget
from workflows.kernel.models import utc_now

_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    latency_ms: int
    retry_after_seconds: int | None


class TransportError(Exception):
    """No HTTP response: timeout, refused or dropped connection, TLS failure."""

    def __init__(self, detail: str, latency_ms: int) -> None:
        super().__init__(detail)
        self.latency_ms = latency_ms


Pool = urllib3.HTTPConnectionPool


@dataclass
class _Pool:
    client: Pool
    users: int = 0
    evicted: bool = False


class PinnedConnections:
    """Keep-alive connections, one pool per (scheme, host name, address, port).

    The request goes to the checked address with the host name as SNI, and a pool keyed by
    address alone would hand a connection whose certificate was checked for one host name to
    another name pinned to the same address. So each host name gets its own pool (reuse stays
    where it is safe and pays: repeated deliveries to one endpoint). The least recently used
    pool beyond `max_pools` is closed once no request is using it.
    """

    def __init__(self, *, connect_timeout: float, request_timeout: float,
                 ssl_context: ssl.SSLContext | None = None, max_pools: int = 64,
                 max_keepalive_per_pool: int = 10) -> None:
        # One context for every pool: building one (loading the CA bundle) costs milliseconds.
        self._ssl = ssl_context or ssl.create_default_context()
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=request_timeout)
        self._keepalive = max_keepalive_per_pool
        self._max_pools = max_pools
        self._pools: OrderedDict[tuple[str, str, str, int], _Pool] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def client_for(self, target: ResolvedTarget) -> Iterator[Pool]:
        key = (target.scheme, target.host.lower(), target.address, target.port)
        with self._lock:
            pool = self._pools.pop(key, None) or _Pool(self._new_pool(target))
            self._pools[key] = pool  # most recently used last
            pool.users += 1
            idle_evicted = self._evict()
        for old in idle_evicted:
            old.client.close()
        try:
            yield pool.client
        finally:
            with self._lock:
                pool.users -= 1
                close = pool.evicted and pool.users == 0
            if close:
                pool.client.close()

    def _evict(self) -> list[_Pool]:
        """Drop the least recently used pools beyond the bound; returns those nobody uses."""
        idle = []
        while len(self._pools) > self._max_pools:
            _, old = self._pools.popitem(last=False)
            old.evicted = True
            if old.users == 0:
                idle.append(old)
        return idle

    def _new_pool(self, target: ResolvedTarget) -> Pool:
        """Connections to the checked address; TLS names (SNI) and verifies the host name."""
        pool: Pool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address, target.port, ssl_context=self._ssl,
                server_hostname=target.host, assert_hostname=target.host,
                timeout=self._timeout, maxsize=self._keepalive, retries=False)
            pool.ConnectionCls = DeadlineHTTPSConnection
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port,
                                              timeout=self._timeout, maxsize=self._keepalive,
                                              retries=False)
            pool.ConnectionCls = DeadlineHTTPConnection
        return pool

    def pool_count(self) -> int:
        with self._lock:
            return len(self._pools)


@cache
def _connections(connect_timeout: float, request_timeout: float) -> PinnedConnections:
    # One set of pools per process and timeout pair; redirects are never followed.
    return PinnedConnections(connect_timeout=connect_timeout, request_timeout=request_timeout)


def _path(target: ResolvedTarget) -> str:
    parts = urlsplit(target.url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _describe(exc: Urllib3Error | OSError) -> str:
    """What the attempt log says when no response came, in words a receiver's owner knows."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(exc, NewConnectionError):  # refused or unreachable (before any timeout)
        return f"ConnectError: could not connect ({str(reason).rsplit(': ', 1)[-1]})"
    if isinstance(exc, Urllib3Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, SSLError):
        return f"TLSError: {reason}"
    if isinstance(exc, ProtocolError):
        return f"ConnectionDropped: {reason}"
    return f"{type(exc).__name__}: {reason}"


def parse_retry_after(value: str | None, cap_seconds: int) -> int | None:
    """Retry-After as delta-seconds or an HTTP date, clamped to [0, cap]."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            seconds = int((parsedate_to_datetime(value) - utc_now()).total_seconds())
        except (TypeError, ValueError):
            return None
    return max(0, min(seconds, cap_seconds))


def post(target: ResolvedTarget, body: bytes, headers: dict[str, str], *,
         connect_timeout: float, request_timeout: float, retry_after_cap: int,
         connections: PinnedConnections | None = None) -> HttpResponse:
    connections = connections or _connections(connect_timeout, request_timeout)
    request_headers = {**headers, "host": urlsplit(target.url).netloc.rsplit("@", 1)[-1]}
    started = time.perf_counter()
    timed_out = f"timed out after {request_timeout:g} s (the whole request)"

    def elapsed_ms() -> int:
        return int((time.perf_counter() - started) * 1000)

    deadline = Deadline(request_timeout)
    try:
        with deadline, connections.client_for(target) as pool:
            # A connection pool's answer is always an HTTPResponse (typed as the base class).
            response = cast(urllib3.HTTPResponse, pool.urlopen(
                "POST", _path(target), body=body, headers=request_headers, redirect=False,
                retries=False, preload_content=False, assert_same_host=False))
            try:
                read = 0
                for chunk in response.stream(16 * 1024, decode_content=False):
                    read += len(chunk)
                    if read >= _MAX_RESPONSE_BYTES:
                        break  # the body is not used; do not let a receiver stream forever
                    if elapsed_ms() > request_timeout * 1000:
                        raise TransportError(timed_out, elapsed_ms())
            finally:
                if read >= _MAX_RESPONSE_BYTES or not response.isclosed():
                    response.close()  # unread bytes: the connection cannot be reused
                response.release_conn()
    except (Urllib3Error, OSError) as exc:
        # A socket shut down at the deadline fails whatever read was under way.
        raise TransportError(timed_out if deadline.expired else _describe(exc),
                             elapsed_ms()) from None
    if deadline.expired or elapsed_ms() > request_timeout * 1000:
        raise TransportError(timed_out, elapsed_ms())
    return HttpResponse(
        status_code=response.status,
        latency_ms=elapsed_ms(),
        retry_after_seconds=parse_retry_after(response.headers.get("retry-after"),
                                              retry_after_cap),
    )
