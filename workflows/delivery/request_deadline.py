"""The webhook POST's one deadline, for connect, TLS, the request, the response's headers and
its body together.

A read timeout alone restarts with every byte received, so a receiver that trickles its
headers or its body a byte at a time would hold the Deliver function past its own Lambda
timeout (`Lambda.Unknown`, not a retryable attempt). At the deadline every socket of the
request is shut down from a watchdog thread instead: a shutdown ends a blocked read at once.
"""

import heapq
import itertools
import socket
import threading
import time
from contextvars import ContextVar
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection


class Deadline:
    """The whole request's deadline: every socket the request uses is shut down when it
    passes (by the watchdog thread: a shutdown ends a blocked recv at once, in any thread)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return  # met: the sockets now serve other requests (kept alive)
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> "Deadline":
        self._token = _current_deadline.set(self)
        _watchdog.add(time.monotonic() + self.seconds, self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.finished = True
        _current_deadline.reset(self._token)


class _Watchdog:
    """One daemon thread for every deadline of the process, woken for the earliest (a timer
    thread per request cost about 0.5 ms to start and stop)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, at: float, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-deadlines",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = []
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due)[2])
                if not due:
                    self._wake.wait(self._due[0][0] - now if self._due else None)
                    continue
            for deadline in due:
                deadline.expire()


_watchdog = _Watchdog()


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also under TLS (SSLSocket's own would drop its state under
    # a reader in another thread). A closed or detached socket has no descriptor: nothing
    # else's connection can be hit.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


# The deadline of the POST under way in this thread (urlopen runs in the caller's thread).
_current_deadline: ContextVar[Deadline | None] = ContextVar("webhook_deadline", default=None)


def _watched(sock: socket.socket | None) -> None:
    deadline = _current_deadline.get()
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _Watched:
    """Puts under the request's deadline the sockets a connection opens (connect and TLS
    handshake) and the one a request is sent on (kept alive, or TLS)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        _watched(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self.sock)  # type: ignore[attr-defined]
        super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineHTTPConnection(_Watched, HTTPConnection):
    """A connection whose sockets the request's deadline can shut down."""


class DeadlineHTTPSConnection(_Watched, HTTPSConnection):
    """The same for TLS."""
