"""An append-only journal of JSON lines: what changed since the last snapshot.

Each record is one `os.write` to a file opened with O_APPEND, so it is in the kernel's page cache
when `append` returns: a SIGKILL cannot lose it. Records that carry a promise to a client (an
accepted event) are also `fsync`ed, so a power loss cannot either. A record cut short by a crash
is the last line and is skipped when read.
"""

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stepwire.state.state_dir import private_file


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._fd = private_file(path, os.O_WRONLY | os.O_APPEND)  # 0600, whatever the umask
        self.records = 0

    def append(self, record: dict[str, Any], *, sync: bool = False) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self.lock:
            os.write(self._fd, line)
            if sync:
                os.fsync(self._fd)
            self.records += 1

    def close(self) -> None:
        with self.lock:
            os.close(self._fd)

    @staticmethod
    def read(path: Path) -> Iterator[dict[str, Any]]:
        if not path.exists():
            return
        with path.open("rb") as lines:
            for line in lines:
                if not line.endswith(b"\n"):
                    return  # the record a crash cut short: it was never acknowledged
                yield json.loads(line)
