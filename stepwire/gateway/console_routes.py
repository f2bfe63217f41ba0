"""What the local gateway serves besides the API: two local-only routes, and the Host check
in front of the console.

- `/console`, `/console/…`: the console's files come from the API function through a proxy
  event, as in AWS (`workflows/api/console_routes.py`); only their Host is checked here.
  `/` leads there.
- `GET /local/executions/{arn}`: an execution's state machine definition (the ASL as
  deployed) and the states it went through, read from the Step Functions API
  (DescribeExecution, DescribeStateMachine, GetExecutionHistory). Only for the caller's own
  tenant: the execution's input names it.
- `GET /local/metrics`: the last hour of the handlers' metric records, summed per minute. They
  have no tenant dimension (nor does the CloudWatch dashboard in AWS): admin role only.

Both need a valid token, like the API. A deployed API has neither route (there the console
links to the Step Functions console and the CloudWatch dashboard instead).

Served on loopback, every console route answers only to the API's own name and port
(`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, the `--host` address): a page reached by
DNS rebinding (`Host: rebind.attacker.example:PORT`) gets a 403, not the console. With a
`--host` that is not loopback the console is served to the network on purpose, under any name.
"""

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from stepwire.emulation.cloudwatch import MetricsRecorder
from stepwire.emulation.origin_guard import loopback_hosts
from stepwire.gateway.http_wire import GatewayResponse, problem
from workflows.api.console_routes import security_headers

_EXECUTION = re.compile(r"^/local/executions/(?P<arn>[^/]+)$")
# The local pages' answers (JSON, a redirect) are never framed, whoever may frame the console.
SECURITY_HEADERS = security_headers("'none'")
# Principal context of a bearer token, or None when the token is refused.
Authorize = Callable[[str | None], dict[str, Any] | None]


class LocalConsole:
    def __init__(self, sfn: Any, metrics: MetricsRecorder, *, host: str = "127.0.0.1",
                 port: int | None = None) -> None:
        self._sfn = sfn
        self._metrics = metrics
        self._hosts = None if port is None else console_hosts(host, port)

    def __call__(self, method: str, path: str, headers: dict[str, str],
                 authorize: Authorize) -> GatewayResponse | None:
        """The answer for a local route or a console request from a refused Host; None: the
        API answers (the console's files, every API route)."""
        if not (path in ("/", "/console") or path.startswith(("/console/", "/local/"))):
            return None
        if self._hosts is not None:
            host = next((v for k, v in headers.items() if k.lower() == "host"), "").lower()
            if host not in self._hosts:
                return problem(403, f"Host {host or '(none)'!r} refused: the console answers "
                                    f"only to {', '.join(sorted(self._hosts))} (DNS rebinding)")
        if path == "/" and method in ("GET", "HEAD"):
            # Someone who opens the bare URL lands on the console's sign-in.
            return GatewayResponse(302, {"Location": "/console/", **SECURITY_HEADERS}, b"")
        if not path.startswith("/local/"):
            return None
        if method != "GET":
            return problem(405, f"{method} is not allowed on {path}", extra={"Allow": "GET"})
        principal = authorize(next((v for k, v in headers.items()
                                    if k.lower() == "authorization"), None))
        if principal is None:
            return problem(401, "the bearer token is missing, invalid or expired",
                           authenticate=True)
        if path == "/local/metrics":  # the instance's, every tenant's: an admin's only
            if "admin" not in str(principal.get("roles") or "").split(","):
                return problem(403, "the metrics are the whole instance's (every tenant's "
                                    "activity): they need a token with the admin role")
            return _json(self._metrics.summary())
        match = _EXECUTION.match(path)
        if match:
            return self._execution(unquote(match["arn"]), principal.get("tenant"))
        return problem(404, f"no local route {path}")

    def _execution(self, arn: str, tenant: str | None) -> GatewayResponse:
        not_found = problem(404, "no such execution in this tenant (finished executions are "
                                 "kept locally only for a while)")
        try:
            execution = self._sfn.describe_execution(executionArn=arn)
        except Exception:  # unknown, malformed or pruned: all 404
            return not_found
        if _tenant_of(execution.get("input")) != tenant:
            return not_found
        machine = self._sfn.describe_state_machine(
            stateMachineArn=execution["stateMachineArn"])
        history = self._sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return _json({
            "execution_arn": arn, "status": execution["status"],
            "started_at": _iso(execution.get("startDate")),
            "stopped_at": _iso(execution.get("stopDate")),
            "state_machine": {"name": machine["name"], "type": machine.get("type"),
                              "definition": json.loads(machine["definition"])},
            "steps": visited_states(history),
        })


def console_hosts(host: str, port: int) -> frozenset[str] | None:
    """The `Host` values the console answers to when the API listens on host:port; None (any)
    when the address is not loopback: the API is served to the network on purpose."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    own = f"[{host}]" if ":" in host else host
    return loopback_hosts(port) | {f"{own}:{port}".lower()}


def visited_states(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The states in the order they were entered, with when they were left and how."""
    steps: list[dict[str, Any]] = []
    open_steps: dict[str, dict[str, Any]] = {}
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            step = {"state": name, "type": kind.removesuffix("StateEntered"),
                    "entered_at": _iso(event["timestamp"]), "exited_at": None, "error": None}
            steps.append(step)
            open_steps[name] = step
        elif kind.endswith("StateExited"):
            exited = open_steps.pop(event["stateExitedEventDetails"]["name"], None)
            if exited is not None:
                exited["exited_at"] = _iso(event["timestamp"])
        elif kind.endswith("Failed") and steps:
            details: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {})
            steps[-1]["error"] = details.get("error")
    return steps


def _tenant_of(raw_input: str | None) -> str | None:
    try:
        return json.loads(raw_input or "{}")["notification"]["tenant"]
    except (ValueError, KeyError, TypeError):
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json(payload: Any) -> GatewayResponse:
    return GatewayResponse(200, {"Content-Type": "application/json", "Cache-Control": "no-store",
                                 **SECURITY_HEADERS}, json.dumps(payload).encode())

