"""The server's API keys, in a SQL store's database (table `api_keys`).

A key is `ll_<key id>_<secret>`: the id (12 hex digits) finds the row, the secret proves the holder.
Only a SHA-256 hash of the secret is stored (the secret is random, 256 bits, so a slow hash would add
nothing), and it is compared in constant time. The key itself is returned once, by `create`, and never
stored, logged or shown again. Each key belongs to one organisation; revoking keeps the row (so what
was revoked stays listed) and the key stops working at once in every server process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ._protocol import Store
from ._sql import SqlStore

__all__ = ["ApiKey", "KeyTable", "key_table"]

_KEY = re.compile(r"ll_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_ORGANIZATION = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
_COLUMNS = "id, organization_id, name, secret_hash, created_at, revoked_at, last_used_at"
_DUMMY_HASH = hashlib.sha256(b"not a key").hexdigest()
_TOUCH_EVERY = 60.0
"""`last_used_at` is written at most this often per key (seconds): not one write per request."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's row, without its secret (which is never stored)."""

    id: str
    organization_id: str
    name: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "organization_id": self.organization_id, "name": self.name,
                "created_at": self.created_at, "revoked_at": self.revoked_at, "last_used_at": self.last_used_at}


def key_table(store: Store) -> KeyTable:
    """The keys of `store`'s database; only SQL stores (SQLite, PostgreSQL) keep them."""
    if not isinstance(store, SqlStore):
        raise UsageError(f"API keys live in a SQL database (a SQLite file or PostgreSQL), not {store!r}")
    return KeyTable(store)


class KeyTable:
    """Creates, checks, lists and revokes API keys."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._configured = False  # once a key was made it stays so (rows are never deleted): not asked again

    def create(self, organization_id: str, *, name: str = "") -> tuple[ApiKey, str]:
        """A new key for the organisation: its row and the key itself (shown once: only its hash is kept)."""
        if not isinstance(organization_id, str) or not _ORGANIZATION.fullmatch(organization_id):
            raise UsageError(f"an organisation id takes 1 to 200 letters, digits or _.:- characters, got "
                             f"{organization_id!r}")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = ApiKey(key_id, organization_id, name, time.time())
        with self.store._write() as cur:
            cur.execute(self.store._sql(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL)"),
                        (key_id, organization_id, name, _hash(secret), row.created_at))
        return row, f"ll_{key_id}_{secret}"

    def verify(self, key: str) -> ApiKey | None:
        """The key's row when `key` is a live (not revoked) key, else None. The secret's hash is
        compared in constant time, also when no row has the id (against a stand-in)."""
        match = _KEY.fullmatch(key)
        found = self.get(match.group(1)) if match else None
        secret = match.group(2) if match else ""
        stored = found[1] if found is not None else _DUMMY_HASH
        good = hmac.compare_digest(_hash(secret), stored)
        if found is None or not good or found[0].revoked_at is not None:
            return None
        if found[0].last_used_at is None or time.time() - found[0].last_used_at > _TOUCH_EVERY:
            self._touch(found[0].id)
        return found[0]

    def get(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key's row and its secret's hash, or None."""
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?"), (key_id,))
            row = cur.fetchone()
        return None if row is None else (_key(row), str(row[3]))

    def list(self, organization_id: str | None = None) -> list[ApiKey]:
        """Every key (or one organisation's), oldest first, revoked ones included."""
        where, params = ("WHERE organization_id = ?", (organization_id,)) if organization_id is not None else ("", ())
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at, id"), params)
            return [_key(row) for row in cur.fetchall()]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke the key (it stops working at once); its row as left, or None when there is no such key.
        Revoking a revoked key leaves it as it was."""
        with self.store._write() as cur:
            cur.execute(self.store._sql("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
                        (time.time(), key_id))
        found = self.get(key_id)
        return None if found is None else found[0]

    def configured(self) -> bool:
        """Whether any key was ever made here (revoked ones count: revoking every key must not open the
        server to anyone on the machine without one)."""
        if not self._configured:
            with self.store._read() as cur:
                cur.execute("SELECT 1 FROM api_keys LIMIT 1")
                self._configured = cur.fetchone() is not None
        return self._configured

    def _touch(self, key_id: str) -> None:
        with self.store._write() as cur:
            cur.execute(self.store._sql("UPDATE api_keys SET last_used_at = ? WHERE id = ?"), (time.time(), key_id))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: Any) -> ApiKey:
    return ApiKey(id=row[0], organization_id=row[1], name=row[2], created_at=float(row[4]),
                  revoked_at=None if row[5] is None else float(row[5]),
                  last_used_at=None if row[6] is None else float(row[6]))
