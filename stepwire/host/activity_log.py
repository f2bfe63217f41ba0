"""The local runtime's log lines: the activity records (`workflows.kernel.activity`) printed one per
line, human readable (the default) or as JSON (`--log-format json`), on stderr so that stdout
stays the banner."""

import json
import sys
import threading
from typing import Any, TextIO

from workflows.delivery.failure import readable_cause
from workflows.kernel import activity
from workflows.kernel.errors import DeliveryRateLimited
from workflows.kernel.models import NotificationTarget

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


def log_wait(state: str, seconds: float, state_input: Any) -> None:
    """A Wait state of a notification workflow (engine.on_wait): its seconds as the workflow
    declares them (before --retry-time-scale) and why: the state's name and the last error."""
    notification = state_input.get("notification") if isinstance(state_input, dict) else None
    if not isinstance(notification, dict):
        return
    report = state_input.get("report") or {}
    failure = state_input.get("failure") or {}
    if isinstance(failure, dict) and failure.get("Error") == DeliveryRateLimited.error_name:
        return  # the Deliver task said it already, in AWS too (workflows/delivery/attempt.py)
    last_error = report.get("detail") if isinstance(report, dict) else None
    if not last_error and isinstance(failure, dict):
        last_error = readable_cause(failure.get("Cause")) or failure.get("Error")
    activity.waiting(NotificationTarget.model_validate(notification), seconds=round(seconds),
                     why=state + (f" after {last_error}" if last_error else ""))
