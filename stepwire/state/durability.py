"""Durable local state: a snapshot of the emulated services plus a journal of what changed since.

moto keeps everything in memory. What `stepwire local` must not lose lives in three services
and in the engine's executions:
- DynamoDB (subscriptions, events, notifications, attempts, dead letters) and Secrets Manager
  (signing and data keys): every successful write request is journaled, verbatim, under the
  lock that serializes the writes; replayed through moto's own HTTP front end on restart;
- SQS: every message sent is journaled (the dead-letter queue is re-filled on restart); the
  EventBridge ingress queue is a promise to a producer: its messages stay open until the
  ingress function has taken them (stored or refused);
- Step Functions: each execution start (machine, name, input) is journaled and fsynced, and
  so is its end. An execution open at a stop or crash is started again on the next start with
  the same name and input: the workflows are idempotent by name (a resumed notification may
  repeat its POST with the same webhook-id, never with a new one).
A checkpoint (every `checkpoint_seconds`, and at a clean stop) starts a new journal and pickles
the DynamoDB tables, the secrets, the queued messages and the open executions as they were at
the switch; the periodic ones in a forked child, so that the engine does not stop meanwhile.
"""

import json
import logging
import os
import pickle
import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.backend.execution import Execution
from werkzeug.test import Client

from stepwire.emulation.dynamodb import backend
from stepwire.state import journaled_calls
from stepwire.state.journal import Journal
from stepwire.state.state_dir import READS_FORMATS, STATE_FORMAT, StateDir, private_file
from workflows.storage.notifications import LEASE_UNTIL

log = logging.getLogger("stepwire.local")



class Durability:
    def __init__(self, state_dir: StateDir, account_id: str, region: str, ingress_queue: str,
                 *, checkpoint_seconds: float = 30.0) -> None:
        self._dir = state_dir
        self._account, self._region = account_id, region
        self._ingress_queue = ingress_queue
        self._checkpoint_seconds = checkpoint_seconds
        self.open_executions: dict[str, dict[str, str]] = {}  # ARN → machine, name, input
        self.open_ingress: dict[str, str] = {}  # SQS message id → body
        self._generation = 0
        self._journal: Journal | None = None
        self._stopped = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._child: int | None = None  # the process writing a snapshot, while it runs
        self.resumed = 0

    # --- restart -------------------------------------------------------------------------

    def restore(self) -> dict[str, str]:
        """Load the snapshot and replay the journals after it, before anything runs. Returns
        {secret ARN created by this start's provisioning: the restored secret's ARN}."""
        renamed: dict[str, str] = {}
        if self._dir.snapshot.exists():
            with self._dir.snapshot.open("rb") as file:
                snapshot = pickle.load(file)
            if snapshot.get("format") not in READS_FORMATS:
                raise RuntimeError(f"{self._dir.snapshot}: unknown snapshot format")
            renamed = self._load(snapshot)
        replay = Client(DomainDispatcherApplication(create_backend_app))
        for path in self._journals():
            if self._generation_of(path) < self._generation:
                continue  # covered by the snapshot (a crash came before its deletion)
            for record in Journal.read(path):
                self._apply(record, replay)
        end_attempt_leases(self._dynamodb().tables.values())
        return renamed

    def _load(self, snapshot: dict[str, Any]) -> dict[str, str]:
        self._generation = snapshot["generation"]
        self._dynamodb().tables.update(snapshot["tables"])
        secrets = self._secrets()
        fresh = {secret.name: secret.arn for secret in dict.values(secrets.secrets)}
        secrets.secrets = snapshot["secrets"]
        renamed = {fresh[s.name]: s.arn for s in dict.values(secrets.secrets) if s.name in fresh}
        for queue, messages in snapshot["queues"].items():
            for body, attributes in messages:
                self._sqs().send_message(queue, body, attributes)
        self.open_executions = snapshot["executions"]
        self.open_ingress = snapshot["ingress"]
        return renamed

    def _apply(self, record: dict[str, Any], replay: Client) -> None:
        kind = record["k"]
        if kind == "w":
            service = record["s"]
            replay.post("/", data=record["b"], headers={
                "Host": f"{service}.{self._region}.amazonaws.com",
                "X-Amz-Target": record["t"], "Content-Type": "application/x-amz-json-1.0",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20261127/{self._region}/"
                                 f"{service}/aws4_request, SignedHeaders=host, Signature=0"})
        elif kind == "x+":
            self.open_executions[record["a"]] = {"m": record["m"], "n": record["n"],
                                                 "i": record["i"]}
        elif kind == "x-":
            self.open_executions.pop(record["a"], None)
        elif kind == "q" and record["q"] == self._ingress_queue:
            self.open_ingress[record["id"]] = record["b"]
        elif kind == "q":
            self._sqs().send_message(record["q"], record["b"], record.get("attrs"))
        elif kind == "q-":
            self.open_ingress.pop(record["id"], None)

    def resume(self, sfn: Any) -> int:
        """Start again every execution that had not ended; returns how many were started."""
        resumed = 0
        for arn, execution in list(self.open_executions.items()):
            try:
                sfn.start_execution(stateMachineArn=execution["m"], name=execution["n"],
                                    input=execution["i"])
                resumed += 1
            except sfn.exceptions.ExecutionAlreadyExists:
                pass
            except sfn.exceptions.StateMachineDoesNotExist:
                log.warning("not resumed: %s (its state machine no longer exists)", arn)
                with self._lock():
                    self.open_executions.pop(arn, None)
        self.resumed = resumed
        return resumed

    # --- running -------------------------------------------------------------------------

    def activate(self) -> None:
        """Journal from now on; the restored state becomes the first checkpoint."""
        self._generation = max([self._generation, *map(self._generation_of, self._journals())])
        self._generation += 1
        self._journal = Journal(self._journal_path(self._generation))
        journaled_calls.activate(self)
        self.checkpoint()
        self._checkpointer = threading.Thread(target=self._checkpoint_periodically,
                                              name="stepwire-checkpoint", daemon=True)
        self._checkpointer.start()

    def deactivate(self) -> None:
        self._stopped.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=60)
            if self._checkpointer.is_alive() and self._child:  # a stuck child: the journals
                os.kill(self._child, signal.SIGKILL)  # still hold what it was writing
                self._checkpointer.join()
        self.checkpoint()  # last, so that no older snapshot can replace it
        journaled_calls.deactivate()
        assert self._journal is not None
        self._journal.close()

    def checkpoint(self, *, forked: bool = False) -> None:
        """Switch to a new journal and write a snapshot of the state at the switch, then drop
        the journals it covers. `forked`: a child process writes the snapshot from a
        copy-on-write image of this one (as Redis saves), so the engine stops only for the
        fork, not for the pickling (about 2 s at 10,000 events)."""
        assert self._journal is not None
        with backend.state_lock:
            with self._journal.lock:
                executions, ingress = dict(self.open_executions), dict(self.open_ingress)
                old, self._journal = self._journal, Journal(self._journal_path(
                    self._generation + 1))
                self._generation += 1
                generation = self._generation
            old.close()
            child = self._child = os.fork() if forked else None
            if child == 0:  # the child: write the snapshot, then leave without any clean-up
                code = 1
                try:
                    self._write_snapshot(generation, executions, ingress)
                    code = 0
                finally:
                    os._exit(code)
            if child is None:
                self._write_snapshot(generation, executions, ingress)
        if child is not None:
            status = os.waitpid(child, 0)[1]
            self._child = None
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError("the snapshot was not written; the journals are kept")
        for path in self._journals():
            if self._generation_of(path) < generation:
                path.unlink()

    def _write_snapshot(self, generation: int, executions: dict[str, dict[str, str]],
                        ingress: dict[str, str]) -> None:
        blob = pickle.dumps({
            "format": STATE_FORMAT, "generation": generation,
            "tables": self._dynamodb().tables, "secrets": self._secrets().secrets,
            "queues": self._queued_messages(), "executions": executions,
            "ingress": ingress}, protocol=pickle.HIGHEST_PROTOCOL)
        partial = self._dir.snapshot.with_suffix(".partial")
        with os.fdopen(private_file(partial), "wb") as file:  # 0600: it holds the keys
            file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self._dir.snapshot)

    def _checkpoint_periodically(self) -> None:
        while not self._stopped.wait(self._checkpoint_seconds):
            try:
                self.checkpoint(forked=hasattr(os, "fork"))
            except Exception:  # the journal still holds everything: keep going
                log.exception("checkpoint failed; the journal keeps growing until one succeeds")

    def _lock(self) -> Any:
        assert self._journal is not None
        return self._journal.lock

    def _append(self, record: dict[str, Any], *, sync: bool = False) -> None:
        assert self._journal is not None
        self._journal.append(record, sync=sync)

    # What the hooks call -----------------------------------------------------------------

    def wrote(self, service: str, target: str, body: str) -> None:
        self._append({"k": "w", "s": service, "t": target, "b": body})

    def execution_started(self, execution: Execution) -> None:
        machine, name = execution.state_machine.arn, execution.name
        text = json.dumps(execution.input_data, separators=(",", ":"))
        with self._lock():
            self.open_executions[execution.exec_arn] = {"m": machine, "n": name, "i": text}
            self._append({"k": "x+", "a": execution.exec_arn, "m": machine, "n": name,
                          "i": text}, sync=True)

    def execution_ended(self, arn: str) -> None:
        with self._lock():
            if self.open_executions.pop(arn, None) is not None:
                self._append({"k": "x-", "a": arn})

    def message_sent(self, queue: str, message_id: str, body: str, attributes: Any) -> None:
        with self._lock():
            if queue == self._ingress_queue:
                self.open_ingress[message_id] = body
                self._append({"k": "q", "q": queue, "id": message_id, "b": body}, sync=True)
            else:
                self._append({"k": "q", "q": queue, "id": message_id, "b": body,
                              "attrs": attributes})

    def ingress_started(self, message_id: str) -> None:
        """An ingress message is taken by the ingress function (and journaled)."""
        with self._lock():
            if self.open_ingress.pop(message_id, None) is not None:
                self._append({"k": "q-", "id": message_id})

    # --- files and backends ----------------------------------------------------------------

    def _journal_path(self, generation: int) -> Path:
        return self._dir.path / f"journal-{generation:08d}.jsonl"

    @staticmethod
    def _generation_of(path: Path) -> int:
        return int(path.stem.partition("-")[2])

    def _journals(self) -> list[Path]:
        return sorted(self._dir.path.glob("journal-*.jsonl"), key=self._generation_of)

    def _dynamodb(self) -> Any:
        return dynamodb_backends[self._account][self._region]

    def _secrets(self) -> Any:
        return secretsmanager_backends[self._account][self._region]

    def _sqs(self) -> Any:
        return sqs_backends[self._account][self._region]

    def _queued_messages(self) -> dict[str, list[tuple[str, Any]]]:
        return {name: [(m.body, m.message_attributes) for m in list(queue._messages)]
                for name, queue in self._sqs().queues.items() if name != self._ingress_queue}


def end_attempt_leases(tables: Iterable[Any]) -> int:
    """After a restart no attempt is under way: end every attempt lease the journal brought
    back. Else a resumed execution would wait on a lease of the process that died, or take it
    for another execution in charge (e.g. a long tail that never started) and end. Returns
    how many were ended. Not journaled: leases only ever matter to a running process."""
    ended = 0
    for table in tables:
        for item in table.all_items():
            if item.attrs.pop(LEASE_UNTIL, None) is not None:
                ended += 1
    return ended
