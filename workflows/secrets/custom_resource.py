"""The CloudFormation custom-resource protocol: the answer is a PUT to a presigned URL."""

import json
import urllib.request
from typing import Any

SUCCESS, FAILED = "SUCCESS", "FAILED"


def response_body(event: dict[str, Any], log_stream: str, status: str, reason: str = "",
                  data: dict[str, str] | None = None) -> bytes:
    return json.dumps({
        "Status": status,
        "Reason": (reason or f"see the log stream {log_stream}")[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data or {},
    }).encode()


def respond(event: dict[str, Any], log_stream: str, status: str, reason: str = "",
            data: dict[str, str] | None = None, timeout: float = 10.0) -> None:
    body = response_body(event, log_stream, status, reason, data)
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"content-type": "", "content-length": str(len(body))})
    with urllib.request.urlopen(request, timeout=timeout):  # CloudFormation's https URL
        pass
