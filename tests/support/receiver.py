"""A real HTTP webhook receiver for tests: scripted answers, every request verified."""

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool
    payload: dict | None


@dataclass
class Answer:
    """What the receiver does with one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout when above the client's)
    drop: bool = False  # close the connection without answering


Script = Callable[[Received], Answer]


class Receiver:
    """`script` decides each answer; `secrets` maps a path to the signing secret to verify with.

    With `tls` (a server-side SSL context) it serves HTTPS.
    """

    def __init__(self, script: Script | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.script: Script = script or (lambda _: Answer())
        self.secrets: dict[str, str] = {}
        self.requests: dict[str, list[Received]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a killed platform): as any HTTP server, the
                    # receiver never sees a request cut short; the sender retries it whole.
                    self.close_connection = True
                    return
                received = receiver._record(self.path, dict(self.headers), body)
                answer = receiver.script(received)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._scheme = "https" if tls else "http"
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_port}{path}"

    @property
    def port(self) -> int:
        return self._server.server_port

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        secret = self.secrets.get(path)
        verified, payload = False, None
        if secret:
            try:
                payload = Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        received = Received(headers={k.lower(): v for k, v in headers.items()}, body=body,
                            at=time.monotonic(), verified=verified, payload=payload)
        with self._arrived:
            self.requests.setdefault(path, []).append(received)
            self._arrived.notify_all()
        return received

    def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until `path` has received `count` requests; returns them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests.get(path, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{path}: {len(self.requests.get(path, []))} of "
                                       f"{count} requests after {timeout} s")
                self._arrived.wait(remaining)
            return list(self.requests[path])

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
