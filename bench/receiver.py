"""The benchmarks' webhook receiver: answers at once (200 unless told otherwise), records when
each event arrived."""

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any


class Arrivals:
    """A receiver that answers at once and records when each event id arrived. `answer`, if
    set, picks the answer from the request: `(status, headers)`."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.answer: Callable[[Any], tuple[int, dict[str, str]]] | None = None
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        arrivals = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the stdlib's name
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.perf_counter()
                status, headers = arrivals.answer(self) if arrivals.answer else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()
                with arrivals.changed:
                    arrivals.at.setdefault(json.loads(body)["id"], now)
                    arrivals.changed.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not ids <= self.at.keys():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
