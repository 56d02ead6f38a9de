"""The one way the embedded adapters open SQLite: a file (or :memory:) in WAL mode, usable from the
threads of one process (callers hold their own lock), autocommit unless a transaction is begun."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: str | Path, schema: str, *, survive_power_loss: bool = True) -> sqlite3.Connection:
    """`survive_power_loss=False` syncs the WAL at checkpoints only: a commit still survives the process being
    killed, and takes a tenth of the time; what a power cut can undo is the last commits."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if survive_power_loss else 'NORMAL'}")
    db.executescript(schema)
    return db
