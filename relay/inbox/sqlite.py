"""The embedded inbox: a table in a SQLite file, so an accepted alert survives a restart of `relay serve`."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from relay.inbox import Item, Parked
from relay.runtime.leases import died_here, this_process
from relay.runtime.sqlite import connect

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
_ADDED_COLUMNS = {"holder": "TEXT"}  # files written before these existed get them on open

Role = Literal["both", "intake", "relaying"]
LOCK_WAIT_SECONDS = 30.0  # as long as a connection waits for the write lock (relay.runtime.sqlite)
LEASE_SECONDS = 300.0  # an item taken by a worker that died becomes due again after this


class SqliteInbox:
    def __init__(self, path: str | Path = ":memory:", clock=time.time, *, role: Role = "both"):
        """`role` is what this connection does when another process does the rest (relay serve's two):
        - "intake" only puts, and leaves checkpoints (copying the log into the file, with a sync) to the other;
        - "relaying" only takes and finishes items. Its commits are not synced one by one: a power cut may undo
          the last of them, which repeats work the ledger knows is done, and no put waits behind their syncs.
        """
        self._db = connect(path, _SCHEMA, survive_power_loss=role != "relaying")
        have = {row[1] for row in self._db.execute("PRAGMA table_info(inbox)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE inbox ADD COLUMN {column} {kind}")
        self._prompt = role == "intake"
        if self._prompt:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute("PRAGMA busy_timeout=0")  # _write waits instead
        self._lock = threading.Lock()
        self._clock = clock
        self.parked_where = str(path)

    def put(self, body: bytes) -> str:
        item_id = uuid.uuid4().hex
        now = self._clock()
        with self._lock:
            self._write(lambda: self._db.execute("INSERT INTO inbox (id, body, due, created) VALUES (?,?,?,?)",
                                                 (item_id, body, now, now)))
        return item_id

    def _write(self, write) -> None:
        """The intake's writes wait for the file's write lock in steps of half a millisecond: SQLite's own wait
        sleeps 1, 2, 5, 10, 15, 20, 25 ms and more between its looks, which a 202 cannot afford."""
        if not self._prompt:
            write()
            return
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                write()
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)

    def take(self) -> Item | None:
        now = self._clock()
        with self._lock:
            # Looking first, without the write lock: idle workers polling must not hold up the intake's writes
            if self._db.execute("SELECT 1 FROM inbox WHERE state IN ('waiting', 'taken') AND due <= ? LIMIT 1",
                                (now,)).fetchone() is None:
                return None
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT id, body, attempts FROM inbox WHERE state IN ('waiting', 'taken') AND due <= ?"
                " ORDER BY due, created LIMIT 1",
                (now,),
            ).fetchone()
            if row:
                self._db.execute(
                    "UPDATE inbox SET state = 'taken', attempts = attempts + 1, due = ?, holder = ? WHERE id = ?",
                    (now + LEASE_SECONDS, this_process(), row[0]),
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

    def release_orphans(self) -> int:
        """Make the items a dead process of this machine had taken due now; how many there were."""
        with self._lock:
            rows = self._db.execute("SELECT id, holder FROM inbox WHERE state = 'taken'").fetchall()
            orphans = [item_id for item_id, holder in rows if died_here(holder)]
            self._db.executemany("UPDATE inbox SET due = ? WHERE id = ? AND state = 'taken'",
                                 [(self._clock(), item_id) for item_id in orphans])
        return len(orphans)

    def parked(self, limit: int = 100) -> list[Parked]:
        with self._lock:
            rows = self._db.execute("SELECT id, body, attempts, reason, created FROM inbox WHERE state = 'dead'"
                                    " ORDER BY created LIMIT ?", (limit,)).fetchall()
        return [Parked(i, bytes(body), attempts, reason, datetime.fromtimestamp(created, UTC))
                for i, body, attempts, reason, created in rows]

    def poisoned_count(self) -> int:
        return self.counts().get("dead", 0)

    def replay(self, item_id: str) -> str | None:
        new_id = uuid.uuid4().hex
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            moved = self._db.execute(
                "INSERT INTO inbox (id, body, due, created) SELECT ?, body, ?, ? FROM inbox WHERE id = ? AND state = 'dead'",
                (new_id, now, now, item_id)).rowcount
            self._db.execute("DELETE FROM inbox WHERE id = ? AND state = 'dead'", (item_id,))
            self._db.execute("COMMIT")
        return new_id if moved else None

    def replay_all(self) -> list[str]:
        return [new_id for item in self.parked(limit=-1) if (new_id := self.replay(item.id))]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM inbox GROUP BY state").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
