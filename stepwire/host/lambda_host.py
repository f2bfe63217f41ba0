"""Lambda functions run in process: one registry of handlers, reachable two ways.

- In process (the engine's own Invoke calls): a botocore `before-send.lambda.Invoke` handler
  answers before moto's generic handler would (moto's Lambda needs Docker).
- From other processes (the AWS CLI, boto3 elsewhere): a WSGI middleware in front of moto's
  server answers `POST /2015-03-31/functions/{name}/invocations`.

A handler's exception becomes what AWS returns: `X-Amz-Function-Error: Unhandled` and
`{errorType, errorMessage}`; the ASL matches `errorType` in Retry and Catch.

Synchronous payloads are limited as in Lambda: a request over 6 MB is refused (413,
`RequestEntityTooLargeException`) before the handler runs; a response over 6 MB becomes the
function error `Function.ResponseSizeTooLarge` (200, Unhandled), which is what Step Functions
sees as the task's error. Cost: one `len` each way.
"""

import json
import re
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

Handler = Callable[[dict[str, Any], Any], Any]
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
PAYLOAD_LIMIT = 6_291_456  # synchronous invocation, request and response
_REASONS = {200: "OK", 404: "Not Found", 413: "Request Entity Too Large"}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaHost:
    def __init__(self, account_id: str, region: str) -> None:
        self._handlers: dict[str, Handler] = {}
        self._account_id = account_id
        self._region = region

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self._region}:{self._account_id}:function:{name}"

    def register(self, name: str, handler: Handler) -> str:
        self._handlers[name] = handler
        return self.arn(name)

    def knows(self, function: str) -> bool:
        return _function_name(function) in self._handlers

    def invoke(self, function: str, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        """Run a handler as Lambda's Invoke API would: (status, headers, body)."""
        name = _function_name(function)
        handler = self._handlers.get(name)
        if handler is None:
            body = {"__type": "ResourceNotFoundException",
                    "message": f"Function not found: {self.arn(name)}"}
            return 404, {"x-amzn-errortype": "ResourceNotFoundException"}, json.dumps(body).encode()
        if len(payload) > PAYLOAD_LIMIT:
            body = {"__type": "RequestEntityTooLargeException",
                    "message": f"Request must be smaller than {PAYLOAD_LIMIT} bytes for the "
                               "InvokeFunction operation"}
            return (413, {"x-amzn-errortype": "RequestEntityTooLargeException"},
                    json.dumps(body).encode())
        context = LambdaContext(function_name=name, invoked_function_arn=self.arn(name))
        headers = {"content-type": "application/json", "x-amz-executed-version": "$LATEST",
                   "x-amzn-requestid": context.aws_request_id}
        try:
            event = json.loads(payload or b"{}")
            result = json.dumps(handler(event, context)).encode()
            if len(result) > PAYLOAD_LIMIT:
                too_large = {"errorType": "Function.ResponseSizeTooLarge",
                             "errorMessage": "Response payload size exceeded maximum allowed "
                                             f"payload size ({PAYLOAD_LIMIT} bytes)."}
                return (200, {**headers, "x-amz-function-error": "Unhandled"},
                        json.dumps(too_large).encode())
            return 200, headers, result
        except Exception as exc:  # every error is reported, as Lambda does
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                     "requestId": context.aws_request_id,
                     "stackTrace": traceback.format_tb(exc.__traceback__)[-5:]}
            return 200, {**headers, "x-amz-function-error": "Unhandled"}, json.dumps(error).encode()

    def activate(self) -> None:
        """Make this host answer in-process Invoke calls (one host per process at a time)."""
        global _active
        _active = self
        hook = ("before-send.lambda.Invoke", botocore_hook)
        # More specific than moto's own `before-send` handler, so it answers first. Registered
        # for sessions created from now on, and on boto3's default session if it exists.
        if hook not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(hook)
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION._session.register(*hook)

    def deactivate(self) -> None:
        global _active
        if _active is self:
            _active = None

    def wsgi_middleware(self, app: Callable) -> Callable:
        """Wrap moto's WSGI app so that other processes can invoke the functions too."""

        def middleware(environ: dict, start_response: Callable) -> Any:
            match = _INVOKE_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match is None or environ.get("REQUEST_METHOD") != "POST":
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, headers, body = self.invoke(match["name"], environ["wsgi.input"].read(length))
            start_response(f"{status} {_REASONS.get(status, 'Error')}",
                           [(k, v) for k, v in headers.items()]
                           + [("content-length", str(len(body)))])
            return [body]

        return middleware


_active: LambdaHost | None = None


def invoke_active(function: str, payload: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """The active host's answer, or None if there is no active host or it lacks `function`."""
    host = _active
    if host is None or not host.knows(function):
        return None
    return host.invoke(function, payload)


def _function_name(function: str) -> str:
    """A name, an ARN or a qualified ARN → the function's name."""
    return unquote(function).rsplit(":function:", 1)[-1].split(":")[0]


def botocore_hook(request: Any, **_: Any) -> AWSResponse | None:
    """For `before-send.lambda.Invoke`: the active host answers in-process Invoke calls."""
    match = _INVOKE_PATH.fullmatch(urlsplit(request.url).path)
    if match is None or _active is None:
        return None
    status, headers, body = _active.invoke(match["name"], request.body or b"")
    return AWSResponse(request.url, status, headers, MockRawResponse(body))
