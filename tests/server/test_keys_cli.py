"""`loopline keys create | list | revoke`: a key is printed once, stored only as a hash, never listed,
and stops working at once when revoked (also in a server that is already running)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

from server_helpers import cli, create_key

from loopline.store import key_table, open_store

KEY = re.compile(r"ll_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def _all_text(db: Path) -> str:
    """Every value of every row of every table, as text: a secret stored anywhere shows here."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f"SELECT * FROM {table}"))


def test_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    done = cli("keys", "create", "--org", "acme", "--name", "ci", "--db", str(db))
    assert done.returncode == 0, done.stderr
    key = done.stdout.splitlines()[0]
    match = KEY.fullmatch(key)
    assert match is not None, done.stdout
    key_id, secret = match.groups()
    assert f"key {key_id} for organisation 'acme'" in done.stdout

    stored = _all_text(db)
    assert secret not in stored and key not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored

    listed = cli("keys", "list", "--db", str(db))
    as_json = cli("keys", "list", "--db", str(db), "--json")
    assert secret not in listed.stdout + as_json.stdout
    [row] = json.loads(as_json.stdout)["keys"]
    assert row == {"id": key_id, "organization_id": "acme", "name": "ci", "created_at": row["created_at"],
                   "revoked_at": None, "last_used_at": None}
    assert "acme" in listed.stdout and "live" in listed.stdout


def test_list_by_organisation_and_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    acme_id, acme_key = create_key(db, "acme")
    globex_id, _ = create_key(db, "globex")
    only = json.loads(cli("keys", "list", "--org", "globex", "--db", db, "--json").stdout)["keys"]
    assert [k["id"] for k in only] == [globex_id]

    done = cli("keys", "revoke", acme_id, "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"revoked key {acme_id} of organisation 'acme'"
    store = open_store(db)
    try:
        keys = key_table(store)
        assert keys.verify(acme_key) is None
        assert [k.revoked_at is not None for k in keys.list()] == [True, False]
    finally:
        store.close()


def test_revoking_an_unknown_key_and_a_bad_organisation_are_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    create_key(db, "acme")
    unknown = cli("keys", "revoke", "0123456789ab", "--db", db)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2, "loopline: error: no API key with id '0123456789ab' (see `loopline keys list`)")
    bad = cli("keys", "create", "--org", "a b", "--db", db)
    assert bad.returncode == 2
    assert "organisation id takes 1 to 200" in bad.stderr


def test_a_key_verifies_only_whole_and_unrevoked(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "keys.db"))
    try:
        keys = key_table(store)
        row, key = keys.create("acme")
        assert keys.verify(key) is not None and keys.verify(key).organization_id == "acme"  # type: ignore[union-attr]
        flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
        for wrong in (flipped, key[:-1], key + "x", f"ll_{'0' * 12}_{key[16:]}", "", "Bearer " + key):
            assert keys.verify(wrong) is None, wrong
        keys.revoke(row.id)
        assert keys.verify(key) is None
        assert keys.configured()  # a revoked key still means the server takes keys
    finally:
        store.close()


def test_revoke_prints_the_key_as_left_in_json(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    key_id, _ = create_key(db, "acme", "ci")
    done = cli("keys", "revoke", key_id, "--db", db, "--json")
    row = json.loads(done.stdout)
    assert row == {"id": key_id, "organization_id": "acme", "name": "ci", "created_at": row["created_at"],
                   "revoked_at": row["revoked_at"], "last_used_at": None}
    assert row["revoked_at"] >= row["created_at"]
