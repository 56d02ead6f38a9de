"""The ledger port: what was seen, what each thread said last (and told each receiver of its VMs), which
deliveries are done, and how far each backfill (and each receiver's digest) has read."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from relay.model import (
    Acknowledgement,
    Attempt,
    Event,
    EventKind,
    Hold,
    MonitorAlert,
    NoticeSnapshot,
    PriorNotice,
    ResourceHealthChange,
    ScheduledEvent,
    SendResult,
    Silence,
    Window,
)


class Seen(StrEnum):
    NEW = "new"  # first time this communication arrives
    RESUMED = "resumed"  # seen before, but some deliveries never finished
    DUPLICATE = "duplicate"  # seen before and fully delivered: send nothing


RESCHEDULED = "rescheduled"  # the stage, in lowercase, of the communications PriorNotice.reschedules counts


# The largest card Ledger.keep_card keeps: twice the 28 KB Teams takes, and even incompressible, zlib-compressed, still
# one binary property of Table Storage (64 KiB).
CARD_MAX_BYTES = 56 * 1024


@dataclass(frozen=True)
class Admission:
    seen: Seen
    prior: PriorNotice | None  # the thread's previous notification, fixed at first admission
    superseded_by: str | None = None  # the stage of a newer communication of the thread, if one was seen


# Deliver once: each (notification, receiver) is claimed, sent, then marked. A redelivered or concurrently
# processed alert finds the mark (nothing to send) or a live claim (someone else is sending; try later).
#
# Where a repeat can still happen: the channel accepted the message, and the mark was never written.
#   - The worker dies (killed, host timeout, instance recycled) between the destination's answer and
#     record_delivery: the claim expires after its lease, and the next try sends again. The window is
#     one ledger write after the answer arrives, a few milliseconds (one round trip to Table Storage).
#   - The destination accepted but its answer never arrived (timeout, reset): that counts as a failure
#     and is retried, so the message can appear twice. Webhooks (Teams, Slack) take no idempotency key.
#   - A delivery that outlives its lease (pipeline: retry budget plus a margin) can be claimed again by
#     another worker while the first is still sending.
# Every other crash point repeats nothing: before the send, nothing went out (the next try waits for
# the claim to expire); after the mark, the ledger says delivered.


def watermark_text(when: datetime) -> str:
    """A watermark as stored: fixed-width UTC text, so that comparing the texts compares the times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def told_position(told: NoticeSnapshot) -> str:
    """Where a notice stands among those the ledger kept for one receiver of a thread, as text that sorts as
    they do: by the communication's event time (none counts as oldest), then by when its VMs were read."""
    when = "1" + watermark_text(told.event_time) if told.event_time else "0"
    return f"{when}|{watermark_text(told.read_at)}"


@dataclass(frozen=True)
class Communication:
    """One admitted communication as the ledger can give it back: the event without its text."""

    event: Event
    admitted_at: datetime


# What the ledger keeps of an event, so that the digest can enrich it again: every field but the
# communication text, the Resource Health change and the Scheduled Event (a held message keeps those too: text=True). Bounded, as a
# Table Storage property holds 32K characters.
_TEXT_LIMIT = 500
_LIST_LIMIT = 100
HELD_TEXT_LIMIT = 8000  # characters of the communication text that text=True keeps


def event_record(event: Event, *, text: bool = False) -> str:
    def few(items: tuple[str, ...]) -> list[str]:
        return [item[:_TEXT_LIMIT] for item in items[:_LIST_LIMIT]]

    def iso(when: datetime | None) -> str | None:
        return when.astimezone(UTC).isoformat() if when else None

    return json.dumps({
        "kind": event.kind.value, "schema": event.schema, "title": event.title[:_TEXT_LIMIT],
        "tracking_id": event.tracking_id, "maintenance_id": event.maintenance_id and event.maintenance_id[:_TEXT_LIMIT],
        "communication_id": event.communication_id,
        "event_data_id": event.event_data_id, "alert_id": event.alert_id, "stage": event.stage,
        "level": event.level, "status": event.status, "services": few(event.services),
        "regions": few(event.regions), "subscription_ids": few(event.subscription_ids),
        "window": [iso(event.window.start), iso(event.window.end)], "event_time": iso(event.event_time),
        "alert": _alert_record(event.alert, few, iso),
        **({"communication": event.communication[:HELD_TEXT_LIMIT], "resource": _resource_record(event.resource),
            "scheduled": _scheduled_record(event.scheduled, few, iso)} if text else {}),
    }, ensure_ascii=False, separators=(",", ":"))


def _resource_record(resource: ResourceHealthChange | None) -> dict | None:
    if resource is None:
        return None
    return {**asdict(resource), "details": resource.details and resource.details[:_TEXT_LIMIT]}


def _scheduled_record(scheduled: ScheduledEvent | None, few, iso) -> dict | None:
    if scheduled is None:
        return None
    return {**asdict(scheduled), "not_before": iso(scheduled.not_before), "vms": few(scheduled.vms)}


def _scheduled_from_record(data: dict | None, time) -> ScheduledEvent | None:
    if data is None:
        return None
    return ScheduledEvent(**{**data, "not_before": time(data["not_before"]), "vms": tuple(data["vms"])})


_ALERT_TARGETS = 5  # an alert's targets kept: what routing reads of them again


def _alert_record(alert: MonitorAlert | None, few, iso) -> dict | None:
    """What the digest routes an alert on again: its essentials, without its context."""
    if alert is None:
        return None
    return {"severity": alert.severity, "monitor_condition": alert.monitor_condition, "service": alert.service,
            "signal": alert.signal, "rule": alert.rule and alert.rule[:_TEXT_LIMIT],
            "targets": few(alert.targets[:_ALERT_TARGETS]), "target_type": alert.target_type,
            "target_group": alert.target_group, "fired": iso(alert.fired), "resolved": iso(alert.resolved)}


def _alert_from_record(data: dict | None, time) -> MonitorAlert | None:
    if data is None:
        return None
    return MonitorAlert(severity=data["severity"], monitor_condition=data["monitor_condition"], service=data["service"],
                        signal=data["signal"], rule=data["rule"], targets=tuple(data["targets"]),
                        target_type=data["target_type"], target_group=data["target_group"], fired=time(data["fired"]),
                        resolved=time(data["resolved"]))


def event_from_record(text: str) -> Event:
    data = json.loads(text)

    def time(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    start, end = data["window"]
    return Event(
        kind=EventKind(data["kind"]), schema=data["schema"], title=data["title"],
        communication=data.get("communication", ""),
        tracking_id=data["tracking_id"], maintenance_id=data.get("maintenance_id"),
        communication_id=data["communication_id"],
        event_data_id=data["event_data_id"], alert_id=data["alert_id"], stage=data["stage"], level=data["level"],
        status=data["status"], services=tuple(data["services"]), regions=tuple(data["regions"]),
        subscription_ids=tuple(data["subscription_ids"]), window=Window(time(start), time(end)),
        event_time=time(data["event_time"]), alert=_alert_from_record(data.get("alert"), time),
        resource=ResourceHealthChange(**data["resource"]) if data.get("resource") else None,
        scheduled=_scheduled_from_record(data.get("scheduled"), time),
    )


def threads_of(communications: list[Communication], since: datetime) -> list[tuple[Communication, ...]]:
    """The threads of these maintenance communications that are not over before `since` (one of them was
    admitted at or after it, or has a window that ends at or after it or has no end), oldest first."""
    threads: dict[str, list[Communication]] = {}
    for c in communications:
        threads.setdefault(c.event.thread_key, []).append(c)

    def live(c: Communication) -> bool:
        return c.admitted_at >= since or c.event.window.end is None or c.event.window.end >= since

    return [
        tuple(sorted(thread, key=lambda c: (c.event.event_time or c.admitted_at, c.admitted_at)))
        for _, thread in sorted(threads.items()) if any(live(c) for c in thread)
    ]


class Ledger(Protocol):
    def admit(self, event: Event, receivers: list[str], now: datetime) -> Admission:
        """Record the communication once; say whether it is new and what it updates."""

    def delivered(self, notification_key: str, receiver: str) -> bool: ...

    def claim(self, notification_key: str, receiver: str, holder: str, lease_seconds: float) -> bool:
        """May `holder` send this notification to this receiver now? True, and held for lease_seconds, when
        no final delivery is recorded and no other holder's claim is live; False otherwise. The holder
        itself may claim again (renew). A claim whose holder was a process of this machine that has died
        is not live (relay/runtime/leases.py). record_delivery releases the claim."""

    def record_delivery(self, notification_key: str, receiver: str, result: SendResult, attempts: int) -> None:
        """Mark the delivery (final when it worked or can never work), release its claim, and clear its attempt
        unless the result is unknown.
        The first final result stays: a late, slower worker cannot turn it back into "not delivered"."""

    def begin_attempt(self, notification_key: str, receiver: str, attempt: Attempt) -> None:
        """Keep the attempt before its send, in place of an earlier one. record_delivery clears it, unless its
        result is unknown (no answer), so that the next try asks a checkable destination first."""

    def open_attempt(self, notification_key: str, receiver: str) -> Attempt | None:
        """The attempt begun and not cleared by a mark: a send whose outcome is unknown."""

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None: ...

    def record_told(self, thread_key: str, receiver: str, told: NoticeSnapshot) -> None:
        """Keep what a delivered notice told the receiver of its VMs, so that the thread's next notice to it can
        say per VM what changed. The same notice recorded again replaces what was kept of it."""

    def last_told(self, thread_key: str, receiver: str, other_than: str) -> NoticeSnapshot | None:
        """What the receiver was last told of its VMs in this thread by a notice other than the communication
        `other_than` (a notification key: a redelivery is never compared with itself). The last is the one of
        the latest communication (event time; none counts as oldest), then of the latest VM data."""

    def thread_reference(self, thread_key: str, receiver: str) -> str | None:
        """Where the thread's first message went for this receiver (e.g. a Slack ts), if known."""

    def settled(self, event: Event) -> bool:
        """Whether this communication was admitted and none of its deliveries is left unfinished (failed in
        a way worth retrying): what the backfill need not queue again. Takes the event, not just its dedup
        key: the Table ledger partitions communications by thread."""

    def knows_thread(self, thread_key: str) -> bool:
        """Whether any communication of this thread was admitted."""

    def maintenance_threads(self, since: datetime) -> list[tuple[Communication, ...]]:
        """The maintenance threads not over before `since` (threads_of), each with its communications oldest
        first. Communications admitted before the ledger kept events are left out."""

    def revision(self) -> str | None:
        """A token that changes whenever a communication is admitted or what a receiver was told is recorded
        (what the calendar reads), so a reader can keep what it built from them; None when the ledger cannot say
        without reading them all (Table Storage)."""

    def alerts_since(self, since: datetime) -> list[Communication]:
        """The Azure Monitor alerts admitted at or after `since`, oldest first."""

    def watermark(self, name: str) -> datetime | None:
        """The time a reader (e.g. the backfill of one subscription) has read up to, if it ever did."""

    def advance_watermark(self, name: str, value: datetime) -> None:
        """Move the watermark forward to `value`; an earlier value leaves it where it is, so a slower
        concurrent run cannot move it back."""

    def add_silence(self, silence: Silence) -> None:
        """Keep a silence; one with the same id is replaced."""

    def silences(self) -> list[Silence]:
        """Every silence kept, the expired too, by when each starts."""

    def expire_silence(self, silence_id: str, now: datetime) -> Silence | None:
        """End the silence now (Silence.ended: its end moves to `now` unless it ended before, a pending one's start
        too); the silence as it is then, or None when no silence has this id."""

    def hold(self, hold: Hold) -> Hold:
        """Hold a receiver's message of an event back, merged with what is held for the same thread and
        receiver: the earliest `since`, one more in `held` unless this communication (its dedup key) is the one
        held already, and the latest communication (by event time; a tie: this one) with its prior. Reason,
        silence and until are this hold's. Returns what is held now."""

    def holds(self) -> list[Hold]:
        """Every hold, oldest first."""

    def drop_hold(self, thread_key: str, receiver: str, released: Hold | None = None) -> None:
        """Forget what is held for this thread and receiver (released, or no longer worth telling); with
        `released`, only while the hold is still that one, so that a message merged into it meanwhile is not
        lost."""

    def acknowledge(self, thread_key: str, receiver: str, ack: Acknowledgement) -> bool:
        """Keep that this user is on the thread for this receiver; False when they were already (the first time
        stays)."""

    def acknowledgements(self, thread_key: str, receiver: str) -> list[Acknowledgement]:
        """Who is on the thread for this receiver, first first."""

    def keep_card(self, thread_key: str, receiver: str, card: bytes) -> None:
        """Keep the card the thread's first message shows for this receiver now (the Teams bot's, as rendered,
        without who is on it), in place of the one kept before, so that it can be shown again with who is on it.
        A card is at most 28 KB (what Teams takes); one over CARD_MAX_BYTES is refused with ValueError."""

    def kept_card(self, thread_key: str, receiver: str) -> bytes | None:
        """The card keep_card kept last for this thread and receiver, as it was given; None before any."""

    def close(self) -> None: ...
