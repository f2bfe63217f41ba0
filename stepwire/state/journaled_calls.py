"""moto's write paths, journaled while a `Durability` is active: DynamoDB and Secrets Manager
write requests (verbatim, under the state lock), SQS messages sent, and each execution's start
and end. The hooks are installed once and are inert while nothing is active."""

import json
from typing import Any, Protocol

from moto.dynamodb.responses import DynamoHandler
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

from stepwire.emulation.dynamodb import backend

READ_ACTIONS = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")


class Recorder(Protocol):
    def wrote(self, service: str, target: str, request: str) -> None: ...

    def message_sent(self, queue_name: str, message_id: str, body: str,
                     attributes: Any) -> None: ...

    def execution_started(self, execution: Any) -> None: ...

    def execution_ended(self, execution_arn: str) -> None: ...


_active: Recorder | None = None
_installed = False


def activate(recorder: Recorder) -> None:
    global _active
    _install_hooks()
    _active = recorder


def deactivate() -> None:
    global _active
    _active = None


def _journaled_call(original: Any, service: str) -> Any:
    def call_action(self: Any) -> Any:
        active = _active
        target = self.headers.get("X-Amz-Target", "")
        if active is None or target.rpartition(".")[2].startswith(READ_ACTIONS):
            return original(self)
        with backend.state_lock:
            result = original(self)
            if int(result[0]) < 400:
                active.wrote(service, target, _request_text(self.body))
        return result
    return call_action


def _request_text(body: Any) -> str:
    # DynamoDB's handler has parsed its JSON body by now; Secrets Manager's has not.
    if isinstance(body, bytes):
        return body.decode()
    return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))


def _install_hooks() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    # moto's methods wrapped (monkeypatch).
    DynamoHandler.call_action = _journaled_call(  # type: ignore[method-assign]
        DynamoHandler.call_action, "dynamodb")
    SecretsManagerResponse.call_action = _journaled_call(  # type: ignore[method-assign]
        SecretsManagerResponse.call_action, "secretsmanager")
    send_message, start = SQSBackend.send_message, Execution.start
    terminated = BaseExecutionWorkerCommunication.terminated

    def journaled_send(self: Any, queue_name: str, message_body: str,
                       message_attributes: Any = None, *args: Any, **kwargs: Any) -> Any:
        active = _active
        if active is None:
            return send_message(self, queue_name, message_body, message_attributes,
                                *args, **kwargs)
        with backend.state_lock:
            message = send_message(self, queue_name, message_body, message_attributes,
                                   *args, **kwargs)
            active.message_sent(queue_name, message.id, message_body, message_attributes)
        return message

    def journaled_start(self: Any) -> None:
        if _active is not None:
            _active.execution_started(self)
        start(self)

    def journaled_end(self: Any) -> None:
        terminated(self)
        if _active is not None:
            _active.execution_ended(self.execution.exec_arn)

    SQSBackend.send_message = journaled_send  # type: ignore[method-assign]
    Execution.start = journaled_start  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = journaled_end  # type: ignore[method-assign]

