"""The ledger on Azure Table Storage, for several Function instances at once; the same port as SqliteLedger.

One table holds every kind of entity, each kind in its own partitions:

    PartitionKey                 RowKey             what
    communication-<thread>       <dedup key>        a communication seen, with the prior notice it updates
                                                    and the event as the digest rebuilds it
    delivery-<notification>      <receiver>         a delivery's claim and, once marked, its result
    thread-<thread>              <receiver>         where the thread's first message went (a Slack ts)
    told-<thread>-<receiver>     <notification>     what a delivered notice told the receiver of its VMs
                                 <notification>-<write>-<n>   … continued, when it needs more than one entity
    watermark                    <name>             how far a backfill has read, when a digest was sent
    silence                      <id>               a silence (relay/store/holds.py)
    hold                         <thread>-<receiver>   what is held back for a receiver in a thread
    ack-<thread>-<receiver>      <user>             who said they are on the thread (the Teams bot's button)
    card-<thread>                <receiver>         the card the thread's first message shows (the Teams bot's)

One table is one thing to provision and to grant (Storage Table Data Contributor), and the queries the
ledger needs never cross a partition: a thread's communications, a notification's deliveries. The one
exception is the daily digest, which reads the maintenance communications of every thread (and
the alerts of the last day). Silences and holds are few: each kind is one partition, read whole.
Keys are the SHA-256 of the value in hex: bounded in length (keys may be at most 1 KiB) and free of the
characters keys may not contain (/ \\ # ? and control characters), which dedup keys and resource IDs
do. Each entity also keeps its values in plain text, for people browsing the table.

What a notice told a receiver of its VMs (relay/store/snapshots.py) is compressed JSON, a few hundred KB for
ten thousand VMs, where a property holds at most 64 KiB and an entity 1 MiB and 252 properties: it is cut
into binary properties of 64 KiB, SNAPSHOT_CHUNKS to an entity, and the entities after the first are written
before it, under keys of that write, so that a reader finds either the whole of one write or none of it. A kept
card (at most 28 KB, never more than CARD_MAX_BYTES) is one zlib-compressed binary property.

Concurrency is optimistic: the first admission and the first claim create their entity (a conflict
means someone else was first), and every change is a replace conditional on the ETag just read.
"""
from __future__ import annotations

import hashlib
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

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

DEFAULT_TABLE = "relayledger"
CHUNK_BYTES = 64 * 1024  # the most a binary property holds
# 640 KiB an entity: under its 1 MiB even as the base64 that the request carries (and the emulator counts).
SNAPSHOT_CHUNKS = 10


def _key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _attempt_fields(entity: dict) -> dict:
    return {name: entity[name] for name in ("attempt_id", "attempt_first_sent") if entity.get(name)}


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class TableLedger:
    def __init__(self, table, clock: Callable[[], float] = time.time):
        """`table` is an azure.data.tables.TableClient; the table is created when missing."""
        self._table = table
        self._clock = clock
        try:
            table.create_table()
        except ResourceExistsError:
            pass

    @classmethod
    def from_connection_string(cls, connection_string: str, table: str = DEFAULT_TABLE, **options) -> TableLedger:
        from azure.data.tables import TableClient

        return cls(TableClient.from_connection_string(connection_string, table_name=table), **options)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential, table: str = DEFAULT_TABLE, **options) -> TableLedger:
        """With an azure-identity credential, e.g. ManagedIdentityCredential, and the account's table
        endpoint (https://<account>.table.core.windows.net)."""
        from azure.data.tables import TableClient

        return cls(TableClient(endpoint, table_name=table, credential=credential), **options)

    # -- communications

    def admit(self, event: Event, receivers: list[str], now: datetime) -> Admission:
        partition, row = f"communication-{_key(event.thread_key)}", _key(event.dedup_key)
        entity = self._get(partition, row)
        if entity is None:
            prior = self._latest_in_thread(partition, event)
            try:
                self._table.create_entity(_communication(partition, row, event, prior, now))
                return Admission(Seen.NEW, prior, superseded_by=self._newer_in_thread(partition, event))
            except ResourceExistsError:  # admitted by someone else meanwhile
                entity = self._table.get_entity(partition, row)
        prior = _prior(entity.get("prior_stage"), entity.get("prior_start"), entity.get("prior_end"),
                       entity.get("prior_sent"), entity.get("prior_reschedules", 0))
        seen = Seen.DUPLICATE if self._all_final(event.dedup_key, receivers) else Seen.RESUMED
        return Admission(seen, prior, superseded_by=self._newer_in_thread(partition, event))

    def _newer_in_thread(self, partition: str, event: Event) -> str | None:
        """The stage of the thread's newest communication if it is newer than this one (a late arrival)."""
        when = _iso(event.event_time)
        if when is None:
            return None
        newer = [e for e in self._table.query_entities("PartitionKey eq @p", parameters={"p": partition})
                 if e.get("event_time") and e["event_time"] > when]
        return (max(newer, key=lambda e: e["event_time"]).get("stage") or "newer") if newer else None

    def _latest_in_thread(self, partition: str, event: Event) -> PriorNotice | None:
        """The thread's newest communication not newer than this one (as SqliteLedger picks it), with the
        Rescheduled ones up to it."""
        when = _iso(event.event_time)
        candidates = [
            e for e in self._table.query_entities("PartitionKey eq @p", parameters={"p": partition})
            if when is None or e.get("event_time") is None or e["event_time"] <= when
        ]
        if not candidates:
            return None
        latest = max(candidates, key=lambda e: (
            e.get("event_time") is not None, e.get("event_time") or "", e["admitted_at"], e.metadata["timestamp"]
        ))
        reschedules = sum(1 for e in candidates if (e.get("stage") or "").lower() == RESCHEDULED)
        return _prior(latest.get("stage"), latest.get("window_start"), latest.get("window_end"), latest["admitted_at"],
                      reschedules)

    def _all_final(self, notification_key: str, receivers: list[str]) -> bool:
        partition = f"delivery-{_key(notification_key)}"
        done = {
            e["receiver"] for e in self._table.query_entities("PartitionKey eq @p", parameters={"p": partition})
            if e.get("final")
        }
        return set(receivers) <= done

    # -- deliveries

    def delivered(self, notification_key: str, receiver: str) -> bool:
        entity = self._get(*_delivery_keys(notification_key, receiver))
        return bool(entity and entity.get("final"))

    def claim(self, notification_key: str, receiver: str, holder: str, lease_seconds: float) -> bool:
        partition, row = _delivery_keys(notification_key, receiver)
        while True:
            now = self._clock()
            entity = self._get(partition, row)
            if entity is None:
                fresh = {"PartitionKey": partition, "RowKey": row, "notification_key": notification_key,
                         "receiver": receiver, "final": False, "holder": holder, "until": now + lease_seconds}
                if self._create(fresh):
                    return True
                continue
            if entity.get("final"):
                return False
            if (entity.get("holder") not in (None, holder) and entity.get("until", 0.0) > now
                    and not died_here(entity.get("holder"))):
                return False
            if self._replace(entity, {**entity, "holder": holder, "until": now + lease_seconds}):
                return True

    def record_delivery(self, notification_key: str, receiver: str, result: SendResult, attempts: int) -> None:
        partition, row = _delivery_keys(notification_key, receiver)
        marked = {
            "PartitionKey": partition, "RowKey": row, "notification_key": notification_key, "receiver": receiver,
            "ok": result.ok, "final": result.ok or not result.retryable, "attempts": attempts,
            "detail": result.detail, "reference": result.reference,
            "updated_at": _iso(datetime.fromtimestamp(self._clock(), UTC)),
        }
        marked = {name: value for name, value in marked.items() if value is not None}
        while True:
            entity = self._get(partition, row)
            if entity is None:
                if self._create(marked):
                    return
            elif entity.get("final"):
                return  # the first final result stays
            elif self._replace(entity, {**marked, **_attempt_fields(entity)} if result.unknown else marked):
                return  # replacing drops the claim's holder and lease, and the attempt unless its outcome is unknown

    def begin_attempt(self, notification_key: str, receiver: str, attempt: Attempt) -> None:
        partition, row = _delivery_keys(notification_key, receiver)
        fields = {"attempt_id": attempt.delivery_id, "attempt_first_sent": _iso(attempt.first_sent)}
        while True:
            entity = self._get(partition, row)
            if entity is None:
                if self._create({"PartitionKey": partition, "RowKey": row, "notification_key": notification_key,
                                 "receiver": receiver, "final": False, **fields}):
                    return
            elif self._replace(entity, {**entity, **fields}):
                return

    def open_attempt(self, notification_key: str, receiver: str) -> Attempt | None:
        entity = self._get(*_delivery_keys(notification_key, receiver))
        if not entity or not entity.get("attempt_id"):
            return None
        return Attempt(entity["attempt_id"], datetime.fromisoformat(entity["attempt_first_sent"]))

    # -- threads

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None:
        self._create({"PartitionKey": f"thread-{_key(thread_key)}", "RowKey": _key(receiver),
                      "thread_key": thread_key, "receiver": receiver, "reference": reference})

    def thread_reference(self, thread_key: str, receiver: str) -> str | None:
        entity = self._get(f"thread-{_key(thread_key)}", _key(receiver))
        return entity["reference"] if entity else None

    # -- what each receiver was told of its VMs

    def record_told(self, thread_key: str, receiver: str, told: NoticeSnapshot) -> None:
        partition, head_key = _told_partition(thread_key, receiver), _key(told.notification_key)
        before = self._get(partition, head_key)
        write = uuid.uuid4().hex[:12]
        entities = _told_entities(encode(told))
        for n, chunks in enumerate(entities[1:], start=1):
            self._table.upsert_entity({"PartitionKey": partition, "RowKey": f"{head_key}-{write}-{n}", **chunks})
        self._table.upsert_entity({
            "PartitionKey": partition, "RowKey": head_key, **entities[0],
            "thread_key": thread_key, "receiver": receiver, "notification_key": told.notification_key,
            "position": told_position(told), "vms": len(told.vms), "write": write, "parts": len(entities),
        }, mode=_replace_mode())
        if before is not None:  # what the replaced write continued in
            for n in range(1, before.get("parts", 1)):
                self._table.delete_entity(partition, f"{head_key}-{before.get('write')}-{n}")

    def last_told(self, thread_key: str, receiver: str, other_than: str) -> NoticeSnapshot | None:
        partition = _told_partition(thread_key, receiver)
        heads = [e for e in self._table.query_entities("PartitionKey eq @p", parameters={"p": partition},
                                                        select=["RowKey", "notification_key", "position"])
                 if e.get("position") and e.get("notification_key") != other_than]
        if not heads:
            return None
        head = self._table.get_entity(partition, max(heads, key=lambda e: e["position"])["RowKey"])
        parts = [head] + [self._table.get_entity(partition, f"{head['RowKey']}-{head['write']}-{n}")
                          for n in range(1, head["parts"])]
        return decode(b"".join(_chunks_of(part) for part in parts))

    # -- what the backfill asks

    def settled(self, event: Event) -> bool:
        if self._get(f"communication-{_key(event.thread_key)}", _key(event.dedup_key)) is None:
            return False
        partition = f"delivery-{_key(event.dedup_key)}"
        deliveries = self._table.query_entities("PartitionKey eq @p", parameters={"p": partition}, select=["final"])
        return all(d.get("final") for d in deliveries)

    def knows_thread(self, thread_key: str) -> bool:
        partition = f"communication-{_key(thread_key)}"
        found = self._table.query_entities("PartitionKey eq @p", parameters={"p": partition}, select=["RowKey"],
                                           results_per_page=1)
        return next(iter(found), None) is not None

    def maintenance_threads(self, since: datetime) -> list[tuple[Communication, ...]]:
        found = self._table.query_entities(
            "PartitionKey ge 'communication-' and PartitionKey lt 'communication.' and kind eq @kind",
            parameters={"kind": EventKind.MAINTENANCE.value}, select=["event", "admitted_at"],
        )
        return threads_of([Communication(event_from_record(e["event"]), datetime.fromisoformat(e["admitted_at"]))
                           for e in found if e.get("event")], since)

    def alerts_since(self, since: datetime) -> list[Communication]:
        found = self._table.query_entities(
            "PartitionKey ge 'communication-' and PartitionKey lt 'communication.' and kind eq @kind"
            " and admitted_at ge @since",
            parameters={"kind": EventKind.ALERT.value, "since": _iso(since)}, select=["event", "admitted_at"],
        )
        alerts = [Communication(event_from_record(e["event"]), datetime.fromisoformat(e["admitted_at"]))
                  for e in found if e.get("event")]
        return sorted(alerts, key=lambda c: c.admitted_at)

    def revision(self) -> str | None:
        return None  # no query answers it short of reading every communication

    def watermark(self, name: str) -> datetime | None:
        entity = self._get("watermark", _key(name))
        return _time(entity["value"]) if entity else None

    def advance_watermark(self, name: str, value: datetime) -> None:
        wanted = {"PartitionKey": "watermark", "RowKey": _key(name), "name": name, "value": watermark_text(value)}
        while True:
            entity = self._get("watermark", _key(name))
            if entity is None:
                if self._create(wanted):
                    return
            elif entity["value"] >= wanted["value"]:
                return
            elif self._replace(entity, wanted):
                return

    # -- silences and what is held back

    def add_silence(self, silence: Silence) -> None:
        self._table.upsert_entity({"PartitionKey": "silence", "RowKey": _key(silence.id), "id": silence.id,
                                   "starts": watermark_text(silence.starts), "record": silence_record(silence)},
                                  mode=_replace_mode())

    def silences(self) -> list[Silence]:
        found = self._table.query_entities("PartitionKey eq 'silence'", select=["id", "starts", "record"])
        return [silence_from_record(e["record"]) for e in sorted(found, key=lambda e: (e["starts"], e["id"]))]

    def expire_silence(self, silence_id: str, now: datetime) -> Silence | None:
        while True:
            entity = self._get("silence", _key(silence_id))
            if entity is None:
                return None
            silence = silence_from_record(entity["record"])
            ended = silence.ended(now)
            if self._replace(entity, {**entity, "record": silence_record(ended)}):
                return ended

    def hold(self, hold: Hold) -> Hold:
        row = _hold_row(hold.thread_key, hold.receiver)
        while True:
            entity = self._get("hold", row)
            held, key = (merge(hold_from_record(entity["record"]), entity["dedup_key"], hold) if entity
                         else (hold, hold.event.dedup_key))
            wanted = {"PartitionKey": "hold", "RowKey": row, "thread_key": hold.thread_key, "receiver": hold.receiver,
                      "since": watermark_text(held.since), "dedup_key": key, "record": hold_record(held)}
            written = self._create(wanted) if entity is None else self._replace(entity, wanted)
            if written:
                return hold_from_record(wanted["record"])

    def holds(self) -> list[Hold]:
        found = self._table.query_entities("PartitionKey eq 'hold'",
                                           select=["thread_key", "receiver", "since", "record"])
        ordered = sorted(found, key=lambda e: (e["since"], e["thread_key"], e["receiver"]))
        return [hold_from_record(e["record"]) for e in ordered]

    def drop_hold(self, thread_key: str, receiver: str, released: Hold | None = None) -> None:
        row = _hold_row(thread_key, receiver)
        if released is None:
            self._table.delete_entity("hold", row)
            return
        entity = self._get("hold", row)
        if entity is None or entity["record"] != hold_record(released):
            return
        try:
            self._table.delete_entity("hold", row, etag=entity.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:  # merged with a newer message meanwhile: that one is still to be released
            pass

    # -- who is on a thread

    def acknowledge(self, thread_key: str, receiver: str, ack: Acknowledgement) -> bool:
        return self._create({"PartitionKey": _ack_partition(thread_key, receiver), "RowKey": _key(ack.user_id),
                             "thread_key": thread_key, "receiver": receiver, "user_id": ack.user_id, "name": ack.name,
                             "at": watermark_text(ack.at)})  # the first one stays

    def acknowledgements(self, thread_key: str, receiver: str) -> list[Acknowledgement]:
        found = self._table.query_entities("PartitionKey eq @p", parameters={"p": _ack_partition(thread_key, receiver)},
                                           select=["user_id", "name", "at"])
        return [Acknowledgement(e["user_id"], e["name"], datetime.fromisoformat(e["at"]))
                for e in sorted(found, key=lambda e: (e["at"], e["user_id"]))]

    # -- the card a thread's first message shows

    def keep_card(self, thread_key: str, receiver: str, card: bytes) -> None:
        if len(card) > CARD_MAX_BYTES:
            raise ValueError(f"a card of {len(card)} bytes is more than the ledger keeps ({CARD_MAX_BYTES})")
        self._table.upsert_entity({"PartitionKey": f"card-{_key(thread_key)}", "RowKey": _key(receiver),
                                   "thread_key": thread_key, "receiver": receiver, "bytes": len(card),
                                   "card": zlib.compress(card)}, mode=_replace_mode())

    def kept_card(self, thread_key: str, receiver: str) -> bytes | None:
        entity = self._get(f"card-{_key(thread_key)}", _key(receiver))
        return zlib.decompress(bytes(entity["card"])) if entity and entity.get("card") is not None else None

    def close(self) -> None:
        self._table.close()

    # -- entity operations

    def _get(self, partition: str, row: str):
        try:
            return self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    def _create(self, entity: dict) -> bool:
        """False when the entity exists already."""
        try:
            self._table.create_entity(entity)
            return True
        except ResourceExistsError:
            return False

    def _replace(self, current, entity: dict) -> bool:
        """False when `current` changed since it was read."""
        from azure.data.tables import UpdateMode

        try:
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
            return True
        except ResourceModifiedError:
            return False


def _told_partition(thread_key: str, receiver: str) -> str:
    return f"told-{_key(thread_key)}-{_key(receiver)}"


def _told_entities(data: bytes) -> list[dict[str, bytes]]:
    """The data cut into binary properties snapshot_0, snapshot_1, … of CHUNK_BYTES, SNAPSHOT_CHUNKS to an
    entity; at least one entity, even for no data."""
    chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    groups = [chunks[i:i + SNAPSHOT_CHUNKS] for i in range(0, len(chunks), SNAPSHOT_CHUNKS)]
    return [{f"snapshot_{n}": chunk for n, chunk in enumerate(group)} for group in groups]


def _chunks_of(entity) -> bytes:
    found = {int(name[9:]): value for name, value in entity.items() if name.startswith("snapshot_")}
    return b"".join(bytes(found[n]) for n in range(len(found)))


def _replace_mode():
    from azure.data.tables import UpdateMode

    return UpdateMode.REPLACE


def _ack_partition(thread_key: str, receiver: str) -> str:
    return f"ack-{_key(thread_key)}-{_key(receiver)}"


def _hold_row(thread_key: str, receiver: str) -> str:
    return f"{_key(thread_key)}-{_key(receiver)}"


def _delivery_keys(notification_key: str, receiver: str) -> tuple[str, str]:
    return f"delivery-{_key(notification_key)}", _key(receiver)


def _communication(partition: str, row: str, event: Event, prior: PriorNotice | None, now: datetime) -> dict:
    values: dict[str, str | int | None] = {
        "PartitionKey": partition, "RowKey": row,
        "dedup_key": event.dedup_key, "thread_key": event.thread_key, "stage": event.stage,
        "window_start": _iso(event.window.start), "window_end": _iso(event.window.end),
        "event_time": _iso(event.event_time), "admitted_at": _iso(now),
        "kind": event.kind.value, "event": event_record(event),
    }
    if prior:
        values |= {"prior_stage": prior.stage, "prior_start": _iso(prior.window.start),
                   "prior_end": _iso(prior.window.end), "prior_sent": _iso(prior.sent_at),
                   "prior_reschedules": prior.reschedules}
    return {name: value for name, value in values.items() if value is not None}


def _prior(stage: str | None, start: str | None, end: str | None, sent: str | None,
           reschedules: int) -> PriorNotice | None:
    if sent is None:
        return None
    return PriorNotice(stage=stage, window=Window(_time(start), _time(end)), sent_at=datetime.fromisoformat(sent),
                       reschedules=reschedules)
