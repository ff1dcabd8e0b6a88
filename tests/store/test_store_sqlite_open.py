"""A SQLite file loopline cannot use is refused by the `SQLiteStore` constructor with a `StoreError` naming
the path and what to do, never a bare `sqlite3` error and never later, at the first read or write.

Every case is a real file (or directory) on disk. Permissions are tested in a child process that, when
the tests run as root (who may write anywhere), gives up root before opening the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loopline.errors import StoreError
from loopline.messages import Message
from loopline.store import SQLiteStore

MOVE_AWAY = "move it away (loopline then starts a new one there) or pass another path"
CHECK_ACCESS = "check that the path names a file this user can read and write, in a directory it can write"
ELSEWHERE = "(the default store's is set by LOOPLINE_DB)"


def refused(path: Path | str) -> StoreError:
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    error = info.value
    assert f"SQLite database {path} " in str(error) and error.store == str(path)
    assert ELSEWHERE in str(error)
    return error


def a_full_database(path: Path) -> bytes:
    """A loopline database with enough rows to span many pages, checkpointed into the one file."""
    store = SQLiteStore(path)
    for n in range(20):
        thread = store.create_thread()
        store.append_messages(thread, [Message.user(f"{n} " + "x" * 3000) for _ in range(4)])
    store.close()  # the last connection checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    return path.read_bytes()


def test_random_bytes_are_refused_and_left_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    noise = os.urandom(16_384)
    path.write_bytes(noise)
    error = refused(path)
    assert MOVE_AWAY in str(error) and "file is not a database" in str(error)
    assert isinstance(error.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == noise
    path.rename(tmp_path / "noise.db.bad")  # doing what the message says works
    SQLiteStore(path).close()


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1, 100, 4096], ids=lambda k: f"keep-{k}")
def test_a_database_cut_short_is_refused_when_opened(tmp_path: Path, keep: float) -> None:
    whole = a_full_database(tmp_path / "whole.db")
    cut = tmp_path / "cut.db"
    kept = whole[: int(len(whole) * keep) if keep < 1 else int(keep)]
    cut.write_bytes(kept)
    error = refused(cut)
    assert MOVE_AWAY in str(error) and "malformed" in str(error)
    assert isinstance(error.__cause__, sqlite3.DatabaseError)
    assert cut.read_bytes() == kept


def test_another_programs_database_is_refused_and_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        other.execute("CREATE TABLE threads (forum TEXT)")  # a name loopline uses too
    other.close()
    before = path.read_bytes()
    error = refused(path)
    assert "is not a loopline database: it holds another program's tables (invoices, threads)" in str(error)
    assert error.__cause__ is None and path.read_bytes() == before
    with sqlite3.connect(path) as check:
        assert [r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [
            "invoices", "threads"]
    check.close()


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    store = SQLiteStore(path)
    try:
        assert store.get_thread(store.create_thread()).length == 0
    finally:
        store.close()


def test_a_directory_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path)
    assert "the path is a directory" in str(error) and CHECK_ACCESS in str(error)
    assert isinstance(error.__cause__, sqlite3.OperationalError)


def test_a_path_whose_directory_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a directory")
    path = tmp_path / "plain-file" / "sub" / "loopline.db"
    error = refused(path)
    assert f"its directory {path.parent} does not exist and cannot be made" in str(error)
    assert CHECK_ACCESS in str(error) and isinstance(error.__cause__, OSError)


_OPEN_AS_ANOTHER_USER = """
import json, os, sys
from loopline.errors import StoreError
from loopline.store import SQLiteStore
if os.getuid() == 0:  # root may write anywhere: become nobody, as a user without rights to the path is
    os.setgid(65534)
    os.setuid(65534)
try:
    SQLiteStore(sys.argv[1]).close()
    print(json.dumps({"opened": True}))
except StoreError as exc:
    print(json.dumps({"error": str(exc), "cause": type(exc.__cause__).__name__}))
"""


def open_in_child(path: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", _OPEN_AS_ANOTHER_USER, str(path)], capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", ["read-only-directory", "missing-directory-in-read-only-directory",
                                  "read-only-file"])
def test_a_place_this_user_cannot_write_is_refused(tmp_path: Path, case: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    if case == "read-only-file":
        path = locked / "loopline.db"
        a_full_database(path)
        path.chmod(0o444)
        locked.chmod(0o777)
        (locked / "loopline.db-shm").unlink(missing_ok=True)
    else:
        path = locked / ("loopline.db" if case == "read-only-directory" else "sub/loopline.db")
        locked.chmod(0o555)
    tmp_path.chmod(0o755)  # let the child (perhaps `nobody`) reach it
    try:
        outcome = open_in_child(path)
    finally:
        locked.chmod(0o755)
    assert outcome.get("error", "").startswith(f"SQLite database {path} could not be opened ("), outcome
    assert CHECK_ACCESS in outcome["error"] and ELSEWHERE in outcome["error"]
    assert outcome["cause"] in {"OperationalError", "PermissionError"}


def test_the_default_store_from_loopline_db_is_refused_when_the_agent_is_made(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(200))
    env = {**os.environ, "LOOPLINE_DB": str(path)}
    done = subprocess.run([sys.executable, "-c", "from loopline import Agent; Agent('a'); print('made')"],
                          check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and "made" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"loopline.errors.StoreError: SQLite database {path} could not be opened"), last
    assert MOVE_AWAY in last


def test_damage_inside_a_database_says_what_to_do_when_a_read_finds_it(tmp_path: Path) -> None:
    """Damage past the pages opening reads is found only by the read that reaches it (checking every page
    at each open would cost a read of the whole file): the error then says what to do as well."""
    path = tmp_path / "damaged.db"
    whole = bytearray(a_full_database(path))
    page = 4096
    for start in range(len(whole) // 2 // page * page, len(whole), page):  # the later half's pages: garbage
        whole[start:start + page] = b"\xff" * page
    path.write_bytes(bytes(whole))
    store = SQLiteStore(path)
    try:
        with pytest.raises(StoreError) as info:
            for thread in store.list_threads(limit=100):
                store.get_messages(thread.id)
    finally:
        store.close()
    assert MOVE_AWAY in str(info.value) and isinstance(info.value.__cause__, sqlite3.DatabaseError)
