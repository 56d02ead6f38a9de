"""The embedded ledger: one SQLite file, safe for the threads of one process and for several processes."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from relay.model import (
    Acknowledgement,
    Attempt,
    Event,
    EventKind,
    Hold,
    NoticeSnapshot,
    PriorNotice,
    SendResult,
    Silence,
    Window,
)
from relay.runtime.leases import died_here
from relay.runtime.sqlite import connect
from relay.store import (
    CARD_MAX_BYTES,
    RESCHEDULED,
    Admission,
    Communication,
    Seen,
    event_from_record,
    event_record,
    threads_of,
    told_position,
    watermark_text,
)
from relay.store.holds import hold_from_record, hold_record, merge, silence_from_record, silence_record
from relay.store.snapshots import decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS communications (
    dedup_key    TEXT PRIMARY KEY,
    thread_key   TEXT NOT NULL,
    stage        TEXT,
    window_start TEXT,
    window_end   TEXT,
    event_time   TEXT,
    admitted_at  TEXT NOT NULL,
    prior_stage  TEXT,
    prior_start  TEXT,
    prior_end    TEXT,
    prior_sent   TEXT,
    kind         TEXT,
    event        TEXT,  -- event_record: what the digest rebuilds the event from
    prior_reschedules INTEGER  -- Rescheduled communications of the thread up to the prior one
);
CREATE INDEX IF NOT EXISTS communications_thread ON communications (thread_key, event_time);
CREATE TABLE IF NOT EXISTS deliveries (
    notification_key TEXT NOT NULL,
    receiver         TEXT NOT NULL,
    ok               INTEGER NOT NULL,
    final            INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    detail           TEXT,
    reference        TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (notification_key, receiver)
);
CREATE TABLE IF NOT EXISTS threads (
    thread_key TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    reference  TEXT NOT NULL,
    PRIMARY KEY (thread_key, receiver)
);
CREATE TABLE IF NOT EXISTS claims (
    notification_key TEXT NOT NULL,
    receiver         TEXT NOT NULL,
    holder           TEXT NOT NULL,
    until            REAL NOT NULL,  -- seconds since the epoch
    PRIMARY KEY (notification_key, receiver)
);
CREATE TABLE IF NOT EXISTS watermarks (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL  -- fixed-width UTC text (watermark_text): ordered as the times are
);
CREATE TABLE IF NOT EXISTS attempts (  -- sends begun and not marked (relay.model.Attempt)
    notification_key TEXT NOT NULL,
    receiver         TEXT NOT NULL,
    delivery_id      TEXT NOT NULL,
    first_sent       TEXT NOT NULL,
    PRIMARY KEY (notification_key, receiver)
);
CREATE TABLE IF NOT EXISTS told (  -- created on open in files written before it existed
    thread_key       TEXT NOT NULL,
    receiver         TEXT NOT NULL,
    notification_key TEXT NOT NULL,
    position         TEXT NOT NULL,  -- told_position: the later notice sorts higher
    snapshot         BLOB NOT NULL,  -- relay.store.snapshots: zlib-compressed JSON
    PRIMARY KEY (thread_key, receiver, notification_key)
);
CREATE TABLE IF NOT EXISTS silences (
    id     TEXT PRIMARY KEY,
    starts TEXT NOT NULL,  -- watermark_text: ordered as the times are
    record TEXT NOT NULL   -- relay.store.holds.silence_record
);
CREATE TABLE IF NOT EXISTS holds (  -- a receiver's messages of a thread held back (relay.model.Hold)
    thread_key TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    since      TEXT NOT NULL,  -- watermark_text
    dedup_key  TEXT NOT NULL,  -- of the communication held, as it came
    record     TEXT NOT NULL,  -- relay.store.holds.hold_record
    PRIMARY KEY (thread_key, receiver)
);
CREATE TABLE IF NOT EXISTS acknowledgements (  -- who is on a thread for a receiver (relay.model.Acknowledgement)
    thread_key TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    user_id    TEXT NOT NULL,  -- their Entra object id
    name       TEXT NOT NULL,
    at         TEXT NOT NULL,  -- watermark_text: ordered as the times are
    PRIMARY KEY (thread_key, receiver, user_id)
);
CREATE TABLE IF NOT EXISTS cards (  -- the card a thread's first message shows for a receiver (Ledger.keep_card)
    thread_key TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    card       BLOB NOT NULL,  -- as given
    PRIMARY KEY (thread_key, receiver)
);
"""
_ADDED_COLUMNS = {"kind": "TEXT", "event": "TEXT", "prior_reschedules": "INTEGER"}  # files written before these existed get them on open


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteLedger:
    def __init__(self, path: str | Path = ":memory:", clock: Callable[[], float] = time.time):
        # A mark undone by a power cut means a repeat, not a loss; a mark written fast narrows the window
        # in which a killed process leaves a sent message unmarked (relay/store/__init__.py).
        self._db = connect(path, _SCHEMA, survive_power_loss=False)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(communications)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE communications ADD COLUMN {column} {kind}")
        self._lock = threading.Lock()
        self._clock = clock

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """The thread lock and an immediate transaction, which holds the file's write lock to the end."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def admit(self, event: Event, receivers: list[str], now: datetime) -> Admission:
        key = event.dedup_key
        with self._transaction():
            row = self._db.execute(
                "SELECT prior_stage, prior_start, prior_end, prior_sent, prior_reschedules FROM communications"
                " WHERE dedup_key = ?",
                (key,),
            ).fetchone()
            if row is None:
                prior = self._latest_in_thread(event)
                self._insert(event, prior, now)
                seen = Seen.NEW
            else:
                prior = _prior_from(row)
                seen = Seen.DUPLICATE if self._all_final(key, receivers) else Seen.RESUMED
            newer = self._newer_in_thread(event)
        return Admission(seen, prior, superseded_by=newer)

    def _newer_in_thread(self, event: Event) -> str | None:
        """The stage of the thread's newest communication if it is newer than this one (a late arrival)."""
        if event.event_time is None:
            return None
        row = self._db.execute(
            "SELECT stage FROM communications WHERE thread_key = ? AND event_time > ?"
            " ORDER BY event_time DESC LIMIT 1",
            (event.thread_key, _iso(event.event_time)),
        ).fetchone()
        return (row[0] or "newer") if row else None

    def _latest_in_thread(self, event: Event) -> PriorNotice | None:
        """The thread's newest communication not newer than this one, with the Rescheduled ones up to it."""
        earlier = "thread_key = ? AND (event_time IS NULL OR ? IS NULL OR event_time <= ?)"
        values = (event.thread_key, _iso(event.event_time), _iso(event.event_time))
        row = self._db.execute(
            f"SELECT stage, window_start, window_end, admitted_at, (SELECT COUNT(*) FROM communications"
            f" WHERE {earlier} AND lower(stage) = ?) FROM communications WHERE {earlier}"
            " ORDER BY event_time DESC, rowid DESC LIMIT 1", (*values, RESCHEDULED, *values),
        ).fetchone()
        return _prior_from(row)

    def _insert(self, event: Event, prior: PriorNotice | None, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO communications (dedup_key, thread_key, stage, window_start, window_end, event_time,"
            " admitted_at, prior_stage, prior_start, prior_end, prior_sent, kind, event, prior_reschedules)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.dedup_key, event.thread_key, event.stage,
                _iso(event.window.start), _iso(event.window.end), _iso(event.event_time),
                _iso(now),
                prior.stage if prior else None,
                _iso(prior.window.start) if prior else None,
                _iso(prior.window.end) if prior else None,
                _iso(prior.sent_at) if prior else None,
                event.kind.value, event_record(event), prior.reschedules if prior else None,
            ),
        )

    def _all_final(self, key: str, receivers: list[str]) -> bool:
        done = {
            r for (r,) in self._db.execute(
                "SELECT receiver FROM deliveries WHERE notification_key = ? AND final = 1", (key,)
            )
        }
        return set(receivers) <= done

    def delivered(self, notification_key: str, receiver: str) -> bool:
        with self._lock:
            return self._final(notification_key, receiver)

    def _final(self, notification_key: str, receiver: str) -> bool:
        row = self._db.execute(
            "SELECT final FROM deliveries WHERE notification_key = ? AND receiver = ?", (notification_key, receiver)
        ).fetchone()
        return bool(row and row[0])

    def claim(self, notification_key: str, receiver: str, holder: str, lease_seconds: float) -> bool:
        now = self._clock()
        with self._transaction():
            if self._final(notification_key, receiver):
                return False
            row = self._db.execute(
                "SELECT holder, until FROM claims WHERE notification_key = ? AND receiver = ?",
                (notification_key, receiver),
            ).fetchone()
            if row and row[0] != holder and row[1] > now and not died_here(row[0]):
                return False
            self._db.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?,?)",
                             (notification_key, receiver, holder, now + lease_seconds))
        return True

    def record_delivery(self, notification_key: str, receiver: str, result: SendResult, attempts: int) -> None:
        final = result.ok or not result.retryable
        updated = datetime.fromtimestamp(self._clock(), UTC)
        with self._transaction():
            self._db.execute(
                "INSERT INTO deliveries VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT (notification_key, receiver) DO UPDATE SET ok = excluded.ok, final = excluded.final,"
                " attempts = excluded.attempts, detail = excluded.detail, reference = excluded.reference,"
                " updated_at = excluded.updated_at WHERE deliveries.final = 0",
                (notification_key, receiver, int(result.ok), int(final), attempts, result.detail,
                 result.reference, _iso(updated)),
            )
            self._db.execute(
                "DELETE FROM claims WHERE notification_key = ? AND receiver = ?", (notification_key, receiver)
            )
            if not result.unknown:
                self._db.execute(
                    "DELETE FROM attempts WHERE notification_key = ? AND receiver = ?", (notification_key, receiver)
                )

    def begin_attempt(self, notification_key: str, receiver: str, attempt: Attempt) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?)",
                             (notification_key, receiver, attempt.delivery_id, _iso(attempt.first_sent)))

    def open_attempt(self, notification_key: str, receiver: str) -> Attempt | None:
        with self._lock:
            row = self._db.execute("SELECT delivery_id, first_sent FROM attempts WHERE notification_key = ?"
                                   " AND receiver = ?", (notification_key, receiver)).fetchone()
        return Attempt(row[0], datetime.fromisoformat(row[1])) if row else None

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO threads VALUES (?,?,?)", (thread_key, receiver, reference))

    def thread_reference(self, thread_key: str, receiver: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reference FROM threads WHERE thread_key = ? AND receiver = ?", (thread_key, receiver)
            ).fetchone()
        return row[0] if row else None

    def record_told(self, thread_key: str, receiver: str, told: NoticeSnapshot) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO told VALUES (?,?,?,?,?)",
                             (thread_key, receiver, told.notification_key, told_position(told), encode(told)))

    def last_told(self, thread_key: str, receiver: str, other_than: str) -> NoticeSnapshot | None:
        with self._lock:
            row = self._db.execute(
                "SELECT snapshot FROM told WHERE thread_key = ? AND receiver = ? AND notification_key != ?"
                " ORDER BY position DESC LIMIT 1", (thread_key, receiver, other_than),
            ).fetchone()
        return decode(row[0]) if row else None

    def settled(self, event: Event) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM communications WHERE dedup_key = ? AND NOT EXISTS"
                " (SELECT 1 FROM deliveries WHERE notification_key = dedup_key AND final = 0)", (event.dedup_key,)
            ).fetchone() is not None

    def knows_thread(self, thread_key: str) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM communications WHERE thread_key = ? LIMIT 1", (thread_key,)
            ).fetchone() is not None

    def maintenance_threads(self, since: datetime) -> list[tuple[Communication, ...]]:
        live = "admitted_at >= ? OR window_end IS NULL OR window_end >= ?"  # threads_of's test, on the stored text
        with self._lock:
            rows = self._db.execute(
                "SELECT event, admitted_at FROM communications WHERE kind = ? AND event IS NOT NULL AND thread_key IN"
                f" (SELECT thread_key FROM communications WHERE kind = ? AND ({live}))",
                (EventKind.MAINTENANCE.value, EventKind.MAINTENANCE.value, _iso(since), _iso(since)),
            ).fetchall()
        return threads_of([Communication(event_from_record(e), datetime.fromisoformat(at)) for e, at in rows], since)

    def alerts_since(self, since: datetime) -> list[Communication]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event, admitted_at FROM communications WHERE kind = ? AND event IS NOT NULL AND admitted_at >= ?"
                " ORDER BY admitted_at", (EventKind.ALERT.value, _iso(since)),
            ).fetchall()
        return [Communication(event_from_record(e), datetime.fromisoformat(at)) for e, at in rows]

    def revision(self) -> str | None:
        """Any change to the file: this connection's own, and those other connections committed since."""
        with self._lock:
            (own,) = self._db.execute("SELECT total_changes()").fetchone()
            (others,) = self._db.execute("PRAGMA data_version").fetchone()
        return f"{own}/{others}"

    def watermark(self, name: str) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM watermarks WHERE name = ?", (name,)).fetchone()
        return _time(row[0]) if row else None

    def advance_watermark(self, name: str, value: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO watermarks VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > watermarks.value",
                (name, watermark_text(value)),
            )

    def add_silence(self, silence: Silence) -> None:
        record = silence_record(silence)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO silences VALUES (?,?,?)",
                             (silence.id, watermark_text(silence.starts), record))

    def silences(self) -> list[Silence]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM silences ORDER BY starts, id").fetchall()
        return [silence_from_record(record) for (record,) in rows]

    def expire_silence(self, silence_id: str, now: datetime) -> Silence | None:
        with self._transaction():
            row = self._db.execute("SELECT record FROM silences WHERE id = ?", (silence_id,)).fetchone()
            if row is None:
                return None
            silence = silence_from_record(row[0])
            ended = silence.ended(now)
            self._db.execute("UPDATE silences SET record = ? WHERE id = ?", (silence_record(ended), silence_id))
        return ended

    def hold(self, hold: Hold) -> Hold:
        with self._transaction():
            row = self._db.execute("SELECT record, dedup_key FROM holds WHERE thread_key = ? AND receiver = ?",
                                   (hold.thread_key, hold.receiver)).fetchone()
            held, key = merge(hold_from_record(row[0]), row[1], hold) if row else (hold, hold.event.dedup_key)
            record = hold_record(held)
            self._db.execute("INSERT OR REPLACE INTO holds VALUES (?,?,?,?,?)",
                             (hold.thread_key, hold.receiver, watermark_text(held.since), key, record))
        return hold_from_record(record)

    def holds(self) -> list[Hold]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM holds ORDER BY since, thread_key, receiver").fetchall()
        return [hold_from_record(record) for (record,) in rows]

    def drop_hold(self, thread_key: str, receiver: str, released: Hold | None = None) -> None:
        with self._lock:
            if released is None:
                self._db.execute("DELETE FROM holds WHERE thread_key = ? AND receiver = ?", (thread_key, receiver))
            else:
                self._db.execute("DELETE FROM holds WHERE thread_key = ? AND receiver = ? AND record = ?",
                                 (thread_key, receiver, hold_record(released)))

    def acknowledge(self, thread_key: str, receiver: str, ack: Acknowledgement) -> bool:
        with self._lock:
            added = self._db.execute("INSERT OR IGNORE INTO acknowledgements VALUES (?,?,?,?,?)",
                                     (thread_key, receiver, ack.user_id, ack.name, watermark_text(ack.at))).rowcount
        return added == 1

    def acknowledgements(self, thread_key: str, receiver: str) -> list[Acknowledgement]:
        with self._lock:
            rows = self._db.execute("SELECT user_id, name, at FROM acknowledgements WHERE thread_key = ? AND receiver = ?"
                                    " ORDER BY at, rowid", (thread_key, receiver)).fetchall()
        return [Acknowledgement(user_id, name, datetime.fromisoformat(at)) for user_id, name, at in rows]

    def keep_card(self, thread_key: str, receiver: str, card: bytes) -> None:
        if len(card) > CARD_MAX_BYTES:
            raise ValueError(f"a card of {len(card)} bytes is more than the ledger keeps ({CARD_MAX_BYTES})")
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cards VALUES (?,?,?)", (thread_key, receiver, bytes(card)))

    def kept_card(self, thread_key: str, receiver: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT card FROM cards WHERE thread_key = ? AND receiver = ?",
                                   (thread_key, receiver)).fetchone()
        return bytes(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _prior_from(row) -> PriorNotice | None:
    if row is None or row[3] is None:
        return None
    stage, start, end, sent, reschedules = row
    return PriorNotice(stage=stage, window=Window(_time(start), _time(end)), sent_at=datetime.fromisoformat(sent),
                       reschedules=reschedules or 0)
