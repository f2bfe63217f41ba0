"""The local runtime's state directory: one owner at a time, one known format.

Layout: `format.json` (the format version that wrote it), `lock` (held with `flock` by the
running instance: the kernel drops it when the process dies, even on SIGKILL), `snapshot.pickle`
and `journal.jsonl` (see `stepwire.state.durability`).

It holds the signing and data keys, and a snapshot that is unpickled at start: the directory is
`0700` and every file in it `0600` whatever the umask, and a directory owned by another user, or
writable by group or others, is refused (whoever can write it can run code as this user).
"""

import fcntl
import json
import os
import stat
from pathlib import Path

from workflows import __version__

# Bump when the snapshot or journal layout changes: a directory of a format not listed in
# READS_FORMATS is refused, not guessed at. 2: snapshots may hold packed DynamoDB items
# (dynamodb_at_rest.py), which format 1's readers cannot load; a format 1 directory is read as
# it is and marked 2.
STATE_FORMAT = 2
READS_FORMATS = (1, 2)
FORMAT_FILE = "format.json"
LOCK_FILE = "lock"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_file(path: Path, flags: int = os.O_WRONLY | os.O_TRUNC) -> int:
    """A file of the state directory opened (created if missing) readable by its owner only,
    whatever the umask or its mode before."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd


class StateDirError(Exception):
    """The state directory cannot be used; the message says why and what to do."""


class StateDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    @property
    def snapshot(self) -> Path:
        return self.path / "snapshot.pickle"

    @property
    def journal(self) -> Path:
        return self.path / "journal.jsonl"

    def open(self) -> "StateDir":
        """Create or check the directory, then take its lock (refused if another holds it)."""
        try:
            self.path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateDirError(f"cannot create the state directory {self.path}: {exc}") from None
        self._check_owner()
        self._take_lock()
        try:
            self._check_format()
            self._make_private()  # only a directory stepwire wrote: never a mistaken --state-dir
        except StateDirError:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _check_owner(self) -> None:
        """Refuse a directory another user could have written (before anything is read)."""
        found = self.path.stat()
        if found.st_uid != os.getuid():
            raise StateDirError(
                f"the state directory {self.path} is owned by uid {found.st_uid}, not by you "
                f"(uid {os.getuid()}): its snapshot is loaded as code could be, so only a "
                "directory of your own is used. Pass another --state-dir, or take it over "
                f"with `sudo chown -R {os.getuid()} {self.path}` if you trust its contents")
        if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StateDirError(
                f"the state directory {self.path} is writable by group or others (mode "
                f"{stat.S_IMODE(found.st_mode):o}): anyone who can write it can run code as "
                "you when it is loaded. If you trust its contents, `chmod 700 "
                f"{self.path}`; otherwise pass another --state-dir")

    def _make_private(self) -> None:
        """The directory 0700 and its files 0600 (one an earlier version left readable too)."""
        try:
            os.chmod(self.path, PRIVATE_DIR)
            for entry in self.path.iterdir():
                if entry.is_file() and not entry.is_symlink():
                    os.chmod(entry, PRIVATE_FILE)
        except OSError as exc:
            raise StateDirError(f"cannot make {self.path} private to you: {exc}") from None

    def _take_lock(self) -> None:
        fd = private_file(self.path / LOCK_FILE, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateDirError(
                f"the state directory {self.path} is in use by {holder}: stop that instance "
                "or pass another --state-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"stepwire local (pid {os.getpid()})".encode())
        self._lock_fd = fd

    def _check_format(self) -> None:
        marker = self.path / FORMAT_FILE
        if not marker.exists():
            if any(p.name not in (LOCK_FILE,) for p in self.path.iterdir()):
                raise StateDirError(
                    f"{self.path} is not empty and has no {FORMAT_FILE}: it was not written by "
                    "stepwire local; pass another --state-dir")
            self._mark(marker)
            return
        try:
            found = json.loads(marker.read_text())
            version = found["format"]
        except (ValueError, KeyError, TypeError):
            raise StateDirError(f"{marker} is unreadable: not a stepwire state directory") from None
        if version not in READS_FORMATS:
            readable = " and ".join(str(f) for f in READS_FORMATS)
            raise StateDirError(
                f"the state directory {self.path} has format {version} (written by stepwire "
                f"{found.get('written_by', '?')}); this version reads formats {readable} only. "
                "Finish or export its events with that version, or pass another --state-dir")
        if version != STATE_FORMAT:
            self._mark(marker)

    @staticmethod
    def _mark(marker: Path) -> None:
        with os.fdopen(private_file(marker), "w") as file:
            file.write(json.dumps({"format": STATE_FORMAT, "written_by": __version__}))
