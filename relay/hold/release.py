"""Held messages sent when their hold ends: one message per event and receiver, the latest communication held
with its VMs as they are now, saying it was held and since when.

A hold for quiet hours ends when the receiver's quiet hours do; it is always sent, news of an event that has
ended included (that news was held too). A hold for a silence ends when no silence holds the share any more
(expired, or its end passed); it is sent only while the event is still open, so that people hear of what is
still coming, not of what is over. What goes out is marked once in the ledger (`released/…`), so a retried
pass sends nothing twice; the hold is forgotten after.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from relay.enrich import enrich
from relay.hold.gate import OVER, verdict
from relay.hold.quiet import quiet_at
from relay.model import FIRED, Event, Hold, Message, Notification, Receiver, Release, Silence
from relay.pipeline import Relay, forget_held, last_told, own_stem, remember_told, send_keyed
from relay.render import render
from relay.routing import split
from relay.store import watermark_text

log = logging.getLogger("relay.hold")


@dataclass(frozen=True)
class FollowUp:
    """What a pass of the relay's own messages (releases, reminders) did for one event and receiver."""

    thread: str
    receiver: str
    what: str  # released, reminder:deadline:1d, …
    status: str  # sent, failed, busy, dry run, held (still), nothing (no longer worth telling)
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def send_follow_up(message: Message, relay: Relay, said: Callable[[str, str], FollowUp], dry_run: bool) -> FollowUp:
    """Send what a pass found due once (pipeline.send_keyed), or for a dry run only say what it is; `said` words
    the outcome."""
    if dry_run:
        return said("dry run", message.summary)
    result = send_keyed(message, relay)
    if result is None:
        return said("busy", "being sent by another run")
    done = said("sent" if result.ok else "failed", message.summary if result.ok else result.detail)
    log.log(logging.INFO if result.ok else logging.WARNING, "%s %s of %s for %s: %s", done.what, done.status,
            done.thread, done.receiver, done.detail)
    return done


def still_open(event: Event, now: datetime) -> bool:
    """Whether the event may still bring something: not over by its stage, status or window."""
    stage = (event.stage or event.status or "").lower()
    if stage in (*OVER, "resolved", "rca"):
        return False
    if event.alert is not None and event.alert.monitor_condition != FIRED:
        return False
    return event.window.end is None or event.window.end > now


def release_held(relay: Relay, receivers: Mapping[str, Receiver], now: datetime | None = None,
                 dry_run: bool = False, silences: Sequence[Silence] | None = None) -> list[FollowUp]:
    """Every hold that has ended, sent (or, for a dry run, only rendered). `silences`: the ledger's, when read."""
    now = now or relay.clock()
    silences = relay.ledger.silences() if silences is None else silences
    return [done for hold in relay.ledger.holds()
            if (done := _one(hold, relay, receivers, silences, now, dry_run)) is not None]


def _one(hold: Hold, relay: Relay, receivers: Mapping[str, Receiver], silences: Sequence[Silence], now: datetime,
         dry_run: bool) -> FollowUp | None:
    receiver = receivers.get(hold.receiver)

    def said(status: str, detail: str = "") -> FollowUp:
        return FollowUp(hold.thread_key, hold.receiver, "released", status, detail)

    if receiver is None:
        if not dry_run:
            relay.ledger.drop_hold(hold.thread_key, hold.receiver)
        return said("nothing", "no receiver has this name any more")
    if hold.reason == "quiet_hours" and quiet_at(receiver.quiet_hours, now):
        return None  # still quiet
    if hold.reason == "silence" and not still_open(hold.event, now):
        if not dry_run:
            relay.ledger.drop_hold(hold.thread_key, hold.receiver, released=hold)
        return said("nothing", "the silence ended after the event did")
    share = _share(hold, receiver, relay, now)
    if share is None:
        if not dry_run:
            relay.ledger.drop_hold(hold.thread_key, hold.receiver, released=hold)
        return said("nothing", "none of the event's VMs is routed to it now")
    still = verdict(share, receiver, silences, relay.urgent, now)
    if still.hold is not None:  # silenced again, or a silence ended in its quiet hours
        if still.hold != hold.reason and not dry_run:
            relay.ledger.hold(replace(hold, reason=still.hold, until=still.until,
                                      silence_id=still.silence.id if still.silence else None))
        return None
    done = send_follow_up(_message(hold, share, receiver, now), relay, said, dry_run)
    if done.status == "sent":
        remember_told(share, receiver, relay)
        forget_held(hold.thread_key, hold.receiver, relay, released=hold)
    return done


def _share(hold: Hold, receiver: Receiver, relay: Relay, now: datetime) -> Notification | None:
    """The held event with its VMs as they are now, cut to the receiver's share, as a release."""
    notification = Notification(enrich(hold.event, relay.vms, now), hold.prior,
                                released=Release(hold.reason, hold.since, max(hold.held, 1)))
    part = next((part for chosen, part in split(notification, relay.routes) if chosen.name == receiver.name), None)
    if part is None:
        return None
    return replace(part, released=notification.released, told=last_told(part, receiver, relay))


def _message(hold: Hold, share: Notification, receiver: Receiver, now: datetime) -> Message:
    message = render(share, receiver)
    key = f"released/{hold.thread_key}/{watermark_text(hold.since)}"
    return replace(message, notification_key=key, file_stem=own_stem(hold.event, now, "released"))
