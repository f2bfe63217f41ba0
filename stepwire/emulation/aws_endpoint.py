"""AWS calls the local endpoint cannot serve answered as AWS would answer an error, instead of
moto's 500 page: the CLI and SDKs then print a sentence that says what to do instead."""

import json
from collections.abc import Callable
from typing import Any

# X-Amz-Target → (error code, message). moto's interpreter has no redrive: a failed
# notification is restarted through the API's redrive, which starts a new execution.
UNSUPPORTED = {
    "AWSStepFunctions.RedriveExecution": (
        "ExecutionNotRedrivable",
        "redrive-execution is not supported by `stepwire local`: restart dead-lettered "
        "notifications with POST /dead-letters/redrive on the API (or the console's "
        "Dead letters page), which starts a new execution per dead letter"),
}


def aws_json_error(start_response: Callable, status: str, code: str,
                   message: str) -> list[bytes]:
    """Answer a WSGI request with AWS's JSON error shape, as the SDKs and the CLI read it."""
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"),
                            ("x-amzn-errortype", code), ("Content-Length", str(len(body)))])
    return [body]


def refuse_unsupported(app: Callable) -> Callable:
    """WSGI middleware in front of moto: a 400 in the AWS JSON error shape for UNSUPPORTED."""

    def middleware(environ: dict[str, Any], start_response: Callable) -> Any:
        refused = UNSUPPORTED.get(environ.get("HTTP_X_AMZ_TARGET", ""))
        if refused is None or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        code, message = refused
        return aws_json_error(start_response, "400 Bad Request", code, message)

    return middleware
