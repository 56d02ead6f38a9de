"""Whether a receiver's share of an event goes now, waits for the end of the receiver's quiet hours, or is
silenced. The relay's own notices always go: they are about the relay, not about Azure."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.config.followup import URGENT_REASONS, UrgentSettings
from relay.enrich.state import TO_REBOOT
from relay.hold.quiet import quiet_at, quiet_until
from relay.hold.silences import silencing
from relay.model import Event, EventKind, Notification, Receiver, Silence
from relay.render.times import format_time_both

OVER = ("complete", "canceled", "cancelled")  # stages after which nothing of the maintenance is pressing


def is_over(event: Event) -> bool:
    """Azure said the maintenance is complete or canceled."""
    return (event.stage or "").lower() in OVER


@dataclass(frozen=True)
class Verdict:
    hold: str | None = None  # None: send now; else a HOLD_REASONS value
    until: datetime | None = None  # when the hold is expected to end
    silence: Silence | None = None  # hold "silence": which
    urgent: str | None = None  # sent in the receiver's quiet hours: the URGENT_REASONS value that let it through

    @property
    def why(self) -> str:
        """One line for the log and the ledger."""
        if self.hold == "silence" and self.silence is not None:
            return (f"silenced by {self.silence.id} until {format_time_both(self.silence.ends, 'en')}"
                    f" ({self.silence.created_by}: {self.silence.comment})")
        if self.hold == "quiet_hours":
            return f"held for the receiver's quiet hours until {format_time_both(self.until, 'en')}"
        return f"urgent ({self.urgent}): sent in the receiver's quiet hours" if self.urgent else "sent"


SEND = Verdict()


def verdict(notification: Notification, receiver: Receiver, silences: Iterable[Silence], urgent: UrgentSettings,
            now: datetime) -> Verdict:
    event = notification.event
    if event.kind is EventKind.RELAY:
        return SEND
    silence = silencing(silences, event, notification.enriched.vms, receiver.name, now)
    if silence is not None:
        return Verdict("silence", silence.ends, silence)
    if not receiver.quiet_hours or not quiet_at(receiver.quiet_hours, now):
        return SEND
    why = urgent_reason(notification, urgent, now)
    if why is not None:
        return Verdict(urgent=why)
    return Verdict("quiet_hours", quiet_until(receiver.quiet_hours, now))


def urgent_reason(notification: Notification, urgent: UrgentSettings, now: datetime) -> str | None:
    """The first of the urgent reasons configured that applies to this share, or None."""
    event = notification.event
    applies = {
        "scheduled_event": lambda: event.kind is EventKind.SCHEDULED,
        "emergency_maintenance": lambda: event.is_emergency,
        "emergency_incident": lambda: (event.kind is EventKind.INCIDENT
                                       and (event.level or "").lower() in ("error", "critical")),
        "deadline": lambda: _due_within(notification, urgent.deadline_within, now),
    }
    return next((r for r in URGENT_REASONS if r in urgent.reasons and applies[r]()), None)


def _due_within(notification: Notification, within: timedelta, now: datetime) -> bool:
    """A VM's self-service deadline is within `within`, or Azure's reboot of a VM still to do starts within it
    (or has started and not ended)."""
    event = notification.event
    if is_over(event):
        return False
    soon = now + within
    for affected in notification.enriched.vms:
        deadline = affected.self_service_deadline
        if deadline is not None and now <= deadline <= soon:
            return True
        if affected.state in TO_REBOOT:
            redeploy = affected.vm.redeploy
            window = redeploy.scheduled if redeploy and redeploy.scheduled.start else event.window
            if window.start is not None and window.start <= soon and (window.end is None or window.end > now):
                return True
    return False
