"""The state directory: one owner at a time, one format, and a journal a crash cannot corrupt."""

import json
import os
import stat
from pathlib import Path

import pytest

from stepwire.state.durability import Durability
from stepwire.state.journal import Journal
from stepwire.state.state_dir import FORMAT_FILE, STATE_FORMAT, StateDir, StateDirError

pytestmark = pytest.mark.unit


def test_a_new_directory_is_created_and_marked_with_its_format(tmp_path: Path) -> None:
    # Given a path that does not exist yet
    path = tmp_path / "state"
    # When it is opened
    state = StateDir(path).open()
    # Then it exists, locked, with its format written
    assert json.loads((path / FORMAT_FILE).read_text())["format"] == STATE_FORMAT
    state.close()


def test_a_second_owner_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = StateDir(tmp_path).open()
    with pytest.raises(StateDirError, match="in use by stepwire local"):
        StateDir(tmp_path).open()
    first.close()
    StateDir(tmp_path).open().close()


def test_a_directory_of_another_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": STATE_FORMAT + 1,
                                                    "written_by": "9.9.9"}))
    with pytest.raises(StateDirError, match=r"has format \d+ \(written by stepwire 9\.9\.9\)"):
        StateDir(tmp_path).open()
    # and the refusal leaves the lock free
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": STATE_FORMAT}))
    StateDir(tmp_path).open().close()


def test_a_directory_of_the_previous_format_is_read_and_marked_with_this_one(tmp_path):
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": 1, "written_by": "0.1.0"}))
    StateDir(tmp_path).open().close()
    assert json.loads((tmp_path / FORMAT_FILE).read_text())["format"] == STATE_FORMAT == 2


def test_a_directory_with_foreign_files_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StateDirError, match="not written by stepwire local"):
        StateDir(tmp_path).open()


def test_an_unreadable_format_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text("{not json")
    with pytest.raises(StateDirError, match="unreadable"):
        StateDir(tmp_path).open()


def test_the_journal_skips_a_record_cut_short_by_a_crash(tmp_path: Path) -> None:
    # Given two whole records and a third a crash interrupted
    journal = Journal(tmp_path / "journal-1.jsonl")
    journal.append({"k": "x+", "a": "one"}, sync=True)
    journal.append({"k": "x-", "a": "one"})
    journal.close()
    with (tmp_path / "journal-1.jsonl").open("ab") as file:
        file.write(b'{"k":"x+","a":"tw')
    # When it is read back
    records = list(Journal.read(tmp_path / "journal-1.jsonl"))
    # Then the whole records come back in order, the partial one is dropped
    assert records == [{"k": "x+", "a": "one"}, {"k": "x-", "a": "one"}]


def test_a_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert list(Journal.read(tmp_path / "journal-9.jsonl")) == []


# --- who may read and write it (issue 22, findings 3 and 5) --------------------------------

@pytest.fixture
def open_umask():
    """The loosest umask: what the state directory's modes must not depend on."""
    before = os.umask(0)
    yield
    os.umask(before)


def modes(path: Path) -> dict[str, int]:
    return {entry.name: stat.S_IMODE(entry.stat().st_mode) for entry in path.iterdir()}


def test_the_directory_is_0700_and_every_file_0600_whatever_the_umask(tmp_path, open_umask):
    path = tmp_path / "state"
    state = StateDir(path).open()
    durability = Durability(state, "123456789012", "us-east-1", "stepwire-ingress")
    durability._journal = Journal(path / "journal-1.jsonl")
    durability._generation = 1
    durability._journal.append({"call": "one"})
    durability.checkpoint()  # a new journal and the snapshot, which holds the keys
    state.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    files = modes(path)
    assert "snapshot.pickle" in files and "format.json" in files and "lock" in files
    assert set(files.values()) == {0o600}, files


def test_a_directory_an_earlier_version_left_readable_is_made_private(tmp_path, open_umask):
    StateDir(tmp_path).open().close()
    snapshot = tmp_path / "snapshot.pickle"
    snapshot.write_bytes(b"")
    os.chmod(snapshot, 0o644)
    os.chmod(tmp_path, 0o755)

    StateDir(tmp_path).open().close()

    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert set(modes(tmp_path).values()) == {0o600}


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_a_directory_others_can_write_is_refused_with_how_to_fix_it(tmp_path, mode):
    StateDir(tmp_path).open().close()
    os.chmod(tmp_path, mode)

    with pytest.raises(StateDirError, match=r"writable by group or others .*chmod 700"):
        StateDir(tmp_path).open()
    assert stat.S_IMODE(tmp_path.stat().st_mode) == mode  # refused, not changed


def test_a_directory_of_another_user_is_refused_with_how_to_fix_it(tmp_path, monkeypatch):
    StateDir(tmp_path).open().close()
    monkeypatch.setattr(os, "getuid", lambda: tmp_path.stat().st_uid + 1000)

    with pytest.raises(StateDirError, match=r"owned by uid \d+, not by you .*chown"):
        StateDir(tmp_path).open()


def test_a_mistaken_directory_is_refused_before_any_mode_changes(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    os.chmod(notes, 0o644)
    os.chmod(tmp_path, 0o755)

    with pytest.raises(StateDirError, match="not written by stepwire local"):
        StateDir(tmp_path).open()
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
