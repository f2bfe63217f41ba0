"""The state directory: one owner at a time, one format, and a journal a crash cannot corrupt."""

import json
from pathlib import Path

import pytest

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
