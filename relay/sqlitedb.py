"""The one way the embedded adapters open SQLite: a file (or :memory:) in WAL mode, usable from the
threads of one process (callers hold their own lock), autocommit unless a transaction is begun."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: str | Path, schema: str) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db
