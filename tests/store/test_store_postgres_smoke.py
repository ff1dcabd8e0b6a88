"""A short smoke test of `PostgresStore`: it connects, migrates once, and does the basic round trips.

The full behaviour is the shared contract suite's job (`tests/store/`, which runs against
every store); this file covers what is PostgreSQL's own: the pool, migrations on a fresh database
(also from several processes at once), refusing a newer database, placeholders, and the polite
failure when the `postgres` extra is missing.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import threading

import psycopg
import pytest

from loopline.errors import ConcurrentUpdateError, MissingExtraError, StoredDataError
from loopline.loop import Execution, ExecutionStatus
from loopline.messages import Message
from loopline.store import MIGRATIONS, Store, ThreadInfo, ToolCallRecord, open_store
from loopline.store._postgres import PostgresStore

MIGRATION_NAMES = [m.name for m in MIGRATIONS]


def test_threads_messages_and_an_execution_round_trip(pg_store: PostgresStore) -> None:
    assert isinstance(pg_store, Store)
    thread_id = pg_store.create_thread(metadata={"topic": "100% 'quoted' ?"})
    task = [Message.user("Is it warmer in Oslo or Rome?")]
    assert pg_store.append_messages(thread_id, task) == 1

    execution = Execution(thread_id=thread_id, agent_name="smoke", input="compare")
    reply = [Message.assistant("Rome.")]
    call = ToolCallRecord(execution_id=execution.id, tool_call_id="call_1", name="weather", arguments="{}",
                          status="finished", started_at=1.0, finished_at=2.0, result="ok", is_error=True,
                          duration=1.0)
    pg_store.commit(execution, reply, expected_length=1, tool_calls=[call])
    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 1)
    pg_store.commit(execution)

    info = pg_store.get_thread(thread_id)
    assert info == ThreadInfo(id=thread_id, created_at=info.created_at, updated_at=info.updated_at, length=2,
                              metadata={"topic": "100% 'quoted' ?"})
    assert pg_store.get_messages(thread_id) == task + reply
    assert pg_store.get_execution(execution.id) == execution
    assert pg_store.get_tool_calls(execution.id) == [call]
    with pytest.raises(ConcurrentUpdateError):
        pg_store.append_messages(thread_id, reply, expected_length=1)
    fork = pg_store.fork_thread(thread_id, upto=1)
    assert pg_store.get_messages(fork) == task


def test_lists_page_newest_first(pg_store: PostgresStore) -> None:
    threads = [pg_store.create_thread() for _ in range(5)]
    for thread_id in threads:
        pg_store.commit(Execution(thread_id=thread_id, agent_name="pager", input="x"))
    seen: list[str] = []
    cursor = None
    while True:
        page = pg_store.list_threads(limit=2, cursor=cursor)
        assert len(page) <= 2
        seen.extend(t.id for t in page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == threads[::-1]
    first = pg_store.list_executions(agent_name="pager", limit=3)
    rest = pg_store.list_executions(agent_name="pager", limit=3, cursor=first.next_cursor)
    assert [e.thread_id for e in [*first, *rest]] == threads[::-1]
    assert rest.next_cursor is None


def test_two_owners_claim_one_execution(pg_store: PostgresStore) -> None:
    execution = Execution(thread_id=pg_store.create_thread(), agent_name="worker", input="x")
    pg_store.commit(execution)
    other = PostgresStore(pg_store.url)  # a second pool, as a second process would have
    try:
        assert pg_store.claim_execution(execution.id, owner="a") is True
        assert other.claim_execution(execution.id, owner="b") is False
        pg_store.release_execution(execution.id, owner="a")
        assert other.claim_execution(execution.id, owner="b") is True
        assert pg_store.claim_execution(execution.id, owner="a") is False
    finally:
        other.close()


def test_concurrent_appends_to_one_thread_serialise(pg_store: PostgresStore) -> None:
    thread_id = pg_store.create_thread()
    batches = [[Message.user(f"{w}-{i}") for i in range(3)] for w in range(8)]
    threads = [threading.Thread(target=pg_store.append_messages, args=(thread_id, b)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [m.id for m in pg_store.get_messages(thread_id)]
    chunks = [stored[i : i + 3] for i in range(0, len(stored), 3)]
    assert sorted(chunks) == sorted([m.id for m in b] for b in batches)  # every batch whole, none lost


def test_a_fresh_database_is_migrated_once_and_recorded(pg_empty_url: str) -> None:
    store = PostgresStore(pg_empty_url, min_size=0, max_size=2)
    try:
        assert store.applied_migrations() == MIGRATION_NAMES
    finally:
        store.close()
    again = open_store(pg_empty_url)  # the postgresql:// route of open_store; nothing left to apply
    try:
        assert isinstance(again, PostgresStore)
        assert again.applied_migrations() == MIGRATION_NAMES
    finally:
        again.close()


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(pg_empty_url: str) -> None:
    script = textwrap.dedent("""
        import sys
        from loopline.store._postgres import PostgresStore
        sys.stdin.readline()  # all start together
        PostgresStore(sys.argv[1], max_size=1).close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_empty_url], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    with psycopg.connect(pg_empty_url) as conn:
        rows = conn.execute("SELECT name FROM loopline_migrations").fetchall()
    assert rows == [(name,) for name in MIGRATION_NAMES]


def test_a_database_from_a_newer_loopline_is_refused(pg_empty_url: str) -> None:
    PostgresStore(pg_empty_url).close()
    with psycopg.connect(pg_empty_url) as conn:
        conn.execute("INSERT INTO loopline_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")
    with pytest.raises(StoredDataError, match=r"newer loopline.*9999_from_the_future"):
        PostgresStore(pg_empty_url)


def test_a_bad_url_fails_at_once_without_showing_the_password(pg_url: str) -> None:
    bad = pg_url.replace("://", "://nobody:s3cret-pw@", 1).rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(psycopg.OperationalError) as caught:
        PostgresStore(bad, timeout=5)
    assert "s3cret-pw" not in str(caught.value)


def test_the_repr_names_the_database_but_not_the_password() -> None:
    store = PostgresStore.__new__(PostgresStore)
    store._where = "x"  # repr reads only this
    assert repr(store) == "PostgresStore(<x>)"
    from loopline.store._postgres import _describe

    assert _describe("postgresql://me:s3cret@db.example:6543/app") == "PostgreSQL database app on db.example:6543"


@pytest.mark.parametrize(("missing", "package"), [("psycopg", "psycopg"), ("psycopg_pool", "psycopg-pool")])
def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, missing: str, package: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import psycopg` fail
    monkeypatch.delitem(sys.modules, "loopline.store._postgres")
    with pytest.raises(MissingExtraError) as caught:
        importlib.import_module("loopline.store._postgres")
    assert (caught.value.package, caught.value.extra) == (package, "postgres")
    assert str(caught.value) == f"{package!r} is not installed; install it with: pip install 'loopline[postgres]'"
    with pytest.raises(MissingExtraError):
        open_store("postgresql://localhost/loopline")
