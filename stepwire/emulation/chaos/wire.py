"""Which AWS call a request is, and the error AWS would answer it with, in its protocol.

The same bytes serve both paths: an HTTP client of the AWS endpoint gets them as the answer,
and an in-process boto3 call has them parsed by botocore's own parser (`hooks.py`).
"""

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from stepwire.emulation.chaos.rules import service_name

DEFAULT_REGION = "us-east-1"
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_HOST_REGION = re.compile(r"^[a-z0-9-]+\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")
# X-Amz-Target prefix → service: unsigned JSON requests (curl) still name their service.
_TARGETS = {"dynamodb_20120810": "dynamodb", "awsstepfunctions": "stepfunctions",
            "amazonsqs": "sqs", "secretsmanager": "secretsmanager", "awsevents": "events"}
_LAMBDA = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions(?:/(?P<name>[^/]+)(?P<rest>/.*)?)?/?$")
_LAMBDA_OPERATIONS = {("POST", "/invocations"): "Invoke", ("GET", ""): "GetFunction",
                      ("DELETE", ""): "DeleteFunction", ("GET", "/configuration"):
                      "GetFunctionConfiguration"}


@dataclass(frozen=True)
class Call:
    service: str
    region: str
    operation: str | None
    protocol: str  # "json", "rest-json" or "query"


def call_of(method: str, path: str, headers: dict[str, str], form: bytes = b"",
            query: str = "") -> Call | None:
    """The call an HTTP request makes (`headers` with lower-case names), or None for a request
    that is no AWS call (the endpoint's own paths, a browser's)."""
    target = headers.get("x-amz-target", "")
    scope = _CREDENTIAL.search(headers.get("authorization", ""))
    region = scope[1] if scope else _region_of_host(headers.get("host", ""))
    service = service_name(scope[2]) if scope else None
    lambda_path = _LAMBDA.match(path)
    if target:
        prefix, _, operation = target.partition(".")
        service = service or _TARGETS.get(prefix.lower())
        return Call(service, region, operation, "json") if service else None
    if lambda_path is not None:
        rest = (_LAMBDA_OPERATIONS.get((method, lambda_path["rest"] or ""))
                if lambda_path["name"] else
                {"GET": "ListFunctions", "POST": "CreateFunction"}.get(method))
        return Call("lambda", region, rest, "rest-json")
    actions = (parse_qs(query).get("Action")
               or parse_qs(form.decode("utf-8", "replace")).get("Action"))
    if service and actions:
        return Call(service, region, actions[0], "query")
    return None


def _region_of_host(host: str) -> str:
    match = _HOST_REGION.match(host)
    return match[1] if match else DEFAULT_REGION


def error_answer(call: Call, status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of AWS's error answer to `call`."""
    request_id = str(uuid.uuid4())
    message = (f"{code}: injected by a Stepwire fault rule on {call.service}"
               f"{'.' + call.operation if call.operation else ''} (/_stepwire/chaos/faults)")
    headers = {"x-amzn-RequestId": request_id}
    if call.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        if call.service == "sqs":  # its JSON protocol keeps the query protocol's codes
            headers["x-amzn-query-error"] = f"{code};{_fault(status)}"
    elif call.protocol == "rest-json":
        body = json.dumps({"Type": "User" if status < 500 else "Service",
                           "message": message}).encode()
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code})
    else:
        body = ("<ErrorResponse><Error><Type>" + _fault(status) + "</Type><Code>" + code
                + "</Code><Message>" + message + "</Message></Error><RequestId>"
                + request_id + "</RequestId></ErrorResponse>").encode()
        headers["Content-Type"] = "text/xml"
    headers["Content-Length"] = str(len(body))
    return status, headers, body


def _fault(status: int) -> str:
    return "Sender" if status < 500 else "Receiver"


def lower_headers(items: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    return {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in items}
