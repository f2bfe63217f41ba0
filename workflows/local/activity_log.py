"""The local runtime's log lines: the activity records (`workflows.activity`) printed one per
line, human readable (the default) or as JSON (`--log-format json`), on stderr so that stdout
stays the banner."""

import json
import sys
import threading
from typing import Any, TextIO

FORMATS = ("human", "json")


class ActivityPrinter:
    def __init__(self, log_format: str = "human", stream: TextIO | None = None) -> None:
        if log_format not in FORMATS:
            raise ValueError(f"unknown log format {log_format!r}: one of {', '.join(FORMATS)}")
        self._json = log_format == "json"
        self._stream = stream
        self._lock = threading.Lock()  # one whole line at a time from concurrent executions

    def __call__(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) if self._json \
            else human_line(record)
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


def human_line(record: dict[str, Any]) -> str:
    """`06:31:02.123 delivery.attempt  attempt 1 of event evt_… to sub_…: delivered, HTTP 200
    in 12 ms`"""
    clock = str(record.get("at", ""))[11:23]
    return f"{clock} {record.get('activity', ''):<19} {record.get('message', '')}"
