"""A receiver's calendar from the ledger alone: the maintenance threads not over before RECENT ago, each with
what the receiver was last told of its VMs (the ledger's told snapshots), as one iCalendar file with its ETag.
No Azure call: the feed shows what the receiver's messages said.

A thread the receiver was never told of (no snapshot) is not its maintenance. Once a thread is complete or
canceled, its entries are what the receiver was told before that: a canceled maintenance keeps its entries,
marked cancelled, so calendars drop them; a completed one keeps them as a record of when it happened.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relay.calendar.entries import Entry, Maintenance, entries, is_canceled, is_closed
from relay.calendar.file import calendar_file
from relay.enrich.snapshot import vm_snapshot
from relay.model import Enriched, Event, Receiver, VmSnapshot
from relay.render.markup import LANGUAGES
from relay.render.view import TITLE_LIMIT, portal_link, short_line
from relay.store import RESCHEDULED, Communication, Ledger

RECENT = timedelta(days=30)  # a maintenance over for longer than this has left the feed

Thread = tuple[Communication, ...]


class NoCalendar(LookupError):
    """No calendar for the receiver asked for: unknown, or it wants none. The message says which."""


class ReceiverNeeded(NoCalendar):
    """No receiver was named, and more than one has a calendar."""


@dataclass(frozen=True)
class FeedFile:
    receiver: str
    body: bytes
    etag: str  # a strong entity tag, quoted: the SHA-256 of the body


@dataclass(frozen=True)
class CalendarFeed:
    """What a host holds to answer for calendars: the ledger, the config's receivers, the clock; and each
    receiver's last file, given again while the ledger's revision and the hour are the same (calendars poll a
    feed far more often than maintenance changes)."""

    ledger: Ledger
    receivers: Mapping[str, Receiver]
    clock: Callable[[], datetime]
    kept: dict[str, tuple[tuple[str, datetime], FeedFile]] = field(default_factory=dict, compare=False, repr=False)

    def file(self, name: str | None) -> FeedFile:
        """The receiver's calendar now. Raises NoCalendar (ReceiverNeeded without a name to choose by)."""
        receiver, now, revision = self.receiver(name), self.clock(), self.ledger.revision()
        key = (revision, now.replace(minute=0, second=0, microsecond=0)) if revision is not None else None
        kept = self.kept.get(receiver.name)
        if key is not None and kept is not None and kept[0] == key:
            return kept[1]
        found = receiver_entries(self.ledger, receiver, now)
        body = calendar_file(found, receiver.name, LANGUAGES.get(receiver.language, LANGUAGES["both"]))
        made = FeedFile(receiver.name, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
        if key is not None:
            self.kept[receiver.name] = (key, made)
        return made

    def receiver(self, name: str | None) -> Receiver:
        with_calendar = sorted(n for n, r in self.receivers.items() if r.calendar)
        if name is None:
            if len(with_calendar) != 1:
                raise ReceiverNeeded(f"name the receiver (receiver=NAME); those with a calendar: "
                                     f"{', '.join(with_calendar) or 'none'}")
            name = with_calendar[0]
        receiver = self.receivers.get(name)
        if receiver is None or not receiver.calendar:
            raise NoCalendar(f"no receiver {name!r} with a calendar; those with one: {', '.join(with_calendar) or 'none'}")
        return receiver


def receiver_entries(ledger: Ledger, receiver: Receiver, now: datetime) -> tuple[Entry, ...]:
    """The receiver's entries of every maintenance not over before RECENT ago, soonest first."""
    found: list[Entry] = []
    for thread in ledger.maintenance_threads(now - RECENT):
        found += told_entries(ledger, thread, receiver)
    return tuple(sorted(found, key=lambda e: (e.start, e.uid)))


def told_entries(ledger: Ledger, thread: Thread, receiver: Receiver) -> tuple[Entry, ...]:
    """The receiver's entries of one thread, from what it was told (before the thread closed, once it has)."""
    latest = thread[-1]
    told = ledger.last_told(latest.event.thread_key, receiver.name,
                            other_than=latest.event.dedup_key if is_closed(latest.event.stage) else "")
    if told is None:
        return ()
    maintenance = of_thread([c.event for c in thread], told.vms, max(told.read_at, latest.admitted_at))
    return entries(maintenance, receiver.name, receiver.calendar)


def digest_entries(ledger: Ledger, threads: list[Thread], enriched: Mapping[str, Enriched], receiver: Receiver,
                   since: datetime) -> tuple[Entry, ...]:
    """What a digest carries: the maintenance in its horizon (`enriched`, by thread key) with the VMs as they are
    now, and the maintenance canceled since `since` (its last digest) as the receiver was told it."""
    found: list[Entry] = []
    for thread in threads:
        latest = thread[-1]
        now = enriched.get(latest.event.thread_key)
        if now is not None:
            vms = tuple(vm_snapshot(a) for a in now.vms)
            found += entries(of_thread([c.event for c in thread], vms, now.now), receiver.name, receiver.calendar)
        elif is_canceled(latest.event.stage) and latest.admitted_at >= since:
            found += told_entries(ledger, thread, receiver)
    return tuple(sorted(found, key=lambda e: (e.start, e.uid)))


def of_thread(events: list[Event], vms: tuple[VmSnapshot, ...], stamp: datetime) -> Maintenance:
    """A thread's communications, oldest first, with the VMs told (or read) at `stamp`."""
    latest = events[-1]
    cancelled = is_canceled(latest.stage)
    reschedules = sum(1 for e in events if (e.stage or "").lower() == RESCHEDULED)
    return Maintenance(
        thread_key=latest.thread_key, tracking_id=short_line(latest.tracking_id),
        title=short_line(latest.title, TITLE_LIMIT), link=portal_link(latest.tracking_id, latest.subscription_ids),
        window=latest.window, sequence=reschedules + cancelled, cancelled=cancelled, stamp=stamp, vms=vms,
    )
