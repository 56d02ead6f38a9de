"""One reminder pass: held messages released, then each open maintenance read again (its VMs' states change
after Azure's notice) and each receiver's due reminders sent once.

Once: a reminder is claimed and marked in the ledger under its key (relay.remind.due.Due.key) like any
delivery, so a retried timer, a second instance or a restart sends nothing twice. A reminder due in its
receiver's quiet hours waits, unless urgent (relay.hold.gate), and goes out on the first pass after them if it is
still due. A silenced one is marked as silenced and the event is held for the receiver: when the silence ends,
it hears the event's state once (relay.hold.release).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from relay.config.followup import ReminderSettings
from relay.enrich import enrich
from relay.hold.gate import is_over, verdict
from relay.hold.release import FollowUp, release_held, send_follow_up
from relay.model import Hold, Notification, PriorNotice, Receiver, SendResult, Silence
from relay.pipeline import Relay, own_stem
from relay.remind.due import Due, due_reminders, offset_text
from relay.render import render
from relay.routing import split
from relay.store import Communication


class RemindIncomplete(RuntimeError):
    """Something due could not be sent: the timer's invocation shows as failed."""


def remind(relay: Relay, settings: ReminderSettings, receivers: Mapping[str, Receiver], now: datetime | None = None,
           dry_run: bool = False) -> list[FollowUp]:
    """Release what is held, then send every reminder due at `now` (default: the relay's clock). A dry run sends
    and records nothing."""
    now = now or relay.clock()
    silences = relay.ledger.silences()
    done = release_held(relay, receivers, now, dry_run, silences)
    chosen = set(settings.reminded(receivers.values()))
    if not chosen:
        return done
    for thread in relay.ledger.maintenance_threads(now):
        event = thread[-1].event
        if is_over(event):
            continue
        last_news = max(c.admitted_at for c in thread)
        for receiver, part in split(Notification(enrich(event, relay.vms, now)), relay.routes):
            if receiver.name not in chosen:
                continue
            told = partial(relay.ledger.last_told, event.thread_key, receiver.name, other_than="")
            for due in due_reminders(event, part.enriched.vms, told, last_news, settings, now):
                if not relay.ledger.delivered(due.key(event.thread_key), receiver.name):
                    done.append(_send(due, part, thread, receiver, relay, silences, now, dry_run))
    return done


def _send(due: Due, part: Notification, thread: tuple[Communication, ...], receiver: Receiver, relay: Relay,
          silences: Sequence[Silence], now: datetime, dry_run: bool) -> FollowUp:
    event = part.event
    key = due.key(event.thread_key)
    r = due.reminder
    what = f"reminder:{r.kind}" + (f":{offset_text(r.before)}" if r.before else "")

    def said(status: str, detail: str = "") -> FollowUp:
        return FollowUp(event.thread_key, receiver.name, what, status, detail)

    notification = Notification(replace(part.enriched, vms=due.vms), reminder=r)
    gate = verdict(notification, receiver, silences, relay.urgent, now)
    if gate.hold == "quiet_hours":
        return said("held", gate.why)
    if gate.hold == "silence":
        if not dry_run:
            relay.ledger.hold(Hold(event.thread_key, receiver.name, "silence", now, event, _prior(thread),
                                   silence_id=gate.silence.id if gate.silence else None, until=gate.until))
            relay.ledger.record_delivery(key, receiver.name, SendResult.delivered(gate.why), attempts=0)
        return said("silenced", gate.why)
    message = render(notification, receiver)
    message = replace(message, notification_key=key, file_stem=own_stem(event, now, what.replace(":", "-")))
    return send_follow_up(message, relay, said, dry_run)


def _prior(thread: tuple[Communication, ...]) -> PriorNotice | None:
    """What the thread said before its latest communication."""
    if len(thread) < 2:
        return None
    before = thread[-2]
    return PriorNotice(before.event.stage, before.event.window, before.admitted_at)
