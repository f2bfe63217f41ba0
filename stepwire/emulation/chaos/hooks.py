"""The rules applied to this process's own boto3 calls: the handlers', the API's, the local
runtime's and the state machines' service integrations.

The fault is answered at botocore's `before-call`, the one event that stops at its first
answer (every `before-send` handler runs, moto's included: the write would still happen). The
answer is AWS's error bytes parsed by botocore's own parser for the protocol, so botocore
raises the ClientError it would raise for AWS's answer. The SDK's retries are drawn here: a
retryable fault (throttling, 5xx) fails the call only if every attempt the client's retry
configuration allows draws it (a 30 % throttle with 3 attempts fails about 3 % of calls);
the backoff between attempts is not waited. The direct paths of
`stepfunctions/direct_calls.py` step aside for a service while a rule may touch it.
"""

import time
from functools import cache
from typing import Any

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from moto.core.botocore_stubber import MockRawResponse

from stepwire.emulation.chaos import express
from stepwire.emulation.chaos.rules import FAULTS
from stepwire.emulation.chaos.wire import Call, error_answer

_RETRYABLE_CODES = frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES
                             + TransientRetryableChecker._TRANSIENT_ERROR_CODES)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


@cache
def _parser(protocol: str) -> Any:
    return create_parser(protocol)


def _attempts(context: dict[str, Any]) -> int:
    retries = getattr(context.get("client_config"), "retries", None) or {}
    total = retries.get("total_max_attempts")
    return int(total) if total else _DEFAULT_ATTEMPTS.get(retries.get("mode", "legacy"), 3)


def _on_call(model: Any, params: dict[str, Any], context: dict[str, Any] | None = None,
             **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    """For `before-call`: None to make the call, or (http, parsed) of the fault's answer."""
    if not FAULTS.active:
        return None
    context = context or {}
    service = model.service_model.service_name
    region = context.get("client_region") or "us-east-1"
    attempts = _attempts(context)
    for attempt in range(attempts):
        decision = FAULTS.decide(service, region, model.name)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.error is None:
            return None  # this attempt reaches the service
        status, code = decision.error
        if attempt + 1 == attempts or not (status in _RETRYABLE_STATUS
                                           or code in _RETRYABLE_CODES):
            return _answer(model, params, context, Call(service, region, model.name,
                                                        _wire(model)), status, code, attempt)
    return None  # not reached: the last attempt answers


def _wire(model: Any) -> str:
    protocol = model.service_model.protocol
    return protocol if protocol in ("json", "rest-json") else "query"


def _answer(model: Any, params: dict[str, Any], context: dict[str, Any], call: Call,
            status: int, code: str, retries: int) -> tuple[AWSResponse, dict[str, Any]]:
    _, headers, body = error_answer(call, status, code)
    http = AWSResponse(params.get("url", ""), status, headers, MockRawResponse(body))
    parsed = _parser(model.service_model.protocol).parse(
        {"headers": http.headers, "status_code": status, "body": body, "context": context},
        model.output_shape)
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = retries
    return http, parsed


def install() -> None:
    """Register the hook for boto3 clients created from now on (idempotent; with no rule it
    returns at once)."""
    spec = ("before-call", _on_call, botocore.handlers.REGISTER_FIRST)
    if spec not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(spec)
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register_first("before-call", _on_call)
    express.install()


def start(rules: Any = (), seed: int | None = None, announce: bool = False) -> None:
    """The rules a run starts with (`stepwire local --aws-faults FILE --aws-faults-seed N`)."""
    install()
    FAULTS.announce = False
    FAULTS.seed(seed)
    FAULTS.set_latency_ms(0)
    FAULTS.replace(list(rules))
    FAULTS.announce = announce


def stop() -> None:
    FAULTS.announce = False
    FAULTS.replace([])
    FAULTS.set_latency_ms(0)
