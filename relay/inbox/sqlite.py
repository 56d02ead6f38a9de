"""The embedded inbox: a table in a SQLite file, so an accepted alert survives a restart of `relay serve`."""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from ..sqlitedb import connect
from . import Item

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id         TEXT PRIMARY KEY,
    body       BLOB NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    due        REAL NOT NULL,
    state      TEXT NOT NULL DEFAULT 'waiting',  -- waiting | taken | dead
    reason     TEXT,
    created    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox (state, due);
"""

LEASE_SECONDS = 300.0  # an item taken by a worker that died becomes due again after this


class SqliteInbox:
    def __init__(self, path: str | Path = ":memory:", clock=time.time):
        self._db = connect(path, _SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock

    def put(self, body: bytes) -> str:
        item_id = uuid.uuid4().hex
        now = self._clock()
        with self._lock:
            self._db.execute("INSERT INTO inbox (id, body, due, created) VALUES (?,?,?,?)", (item_id, body, now, now))
        return item_id

    def take(self) -> Item | None:
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT id, body, attempts FROM inbox WHERE state IN ('waiting', 'taken') AND due <= ?"
                " ORDER BY due, created LIMIT 1",
                (now,),
            ).fetchone()
            if row:
                self._db.execute(
                    "UPDATE inbox SET state = 'taken', attempts = attempts + 1, due = ? WHERE id = ?",
                    (now + LEASE_SECONDS, row[0]),
                )
            self._db.execute("COMMIT")
        return Item(row[0], bytes(row[1]), row[2]) if row else None

    def done(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM inbox WHERE id = ?", (item_id,))

    def retry_later(self, item_id: str, delay_seconds: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE inbox SET state = 'waiting', due = ? WHERE id = ?", (self._clock() + delay_seconds, item_id)
            )

    def give_up(self, item_id: str, reason: str) -> None:
        with self._lock:
            self._db.execute("UPDATE inbox SET state = 'dead', reason = ? WHERE id = ?", (reason, item_id))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM inbox GROUP BY state").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
