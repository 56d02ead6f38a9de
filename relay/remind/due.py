"""Which reminder a receiver's share of an open maintenance is due, if any.

Offsets count back from a point in time: before the earliest self-service deadline of the share's VMs still in
Start now or Retry now ("deadline"; it lists them all), and before the earliest reboot window of its VMs Azure
will reboot ("reboot"; it lists those whose window opens within the offset of it, so VMs in slots days apart
are each announced before their own day). Of the offsets passed, only the nearest to the point is due: a relay that was down, or a notice that
came late, does not send the ones it missed. An offset passed before the event's latest news is not due either:
that news told the receiver already. The key of a reminder names its point, so a deadline Azure moves gets its
reminders again.

Once every VM of the share is Already updated, and the receiver was last told of some VM still to do, one "all
done" note is due. A VM whose reboot window ended with no result from Azure is not done: it is not known to be.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from relay.config.followup import ReminderSettings
from relay.enrich.state import CAN_START, TO_REBOOT
from relay.model import AffectedVm, Event, MaintenanceState, NoticeSnapshot, Reminder


@dataclass(frozen=True)
class Due:
    reminder: Reminder
    vms: tuple[AffectedVm, ...]  # what it lists: the VMs still to start, or that Azure will reboot

    def key(self, thread_key: str) -> str:
        """Its mark in the ledger: one per event, receiver (the ledger's other half of the key), kind and point."""
        r = self.reminder
        if r.due is None or r.before is None:
            return f"remind/{thread_key}/{r.kind}"
        return f"remind/{thread_key}/{r.kind}/{r.due.astimezone(UTC).isoformat()}/{offset_text(r.before)}"


def offset_text(offset: timedelta) -> str:
    """3d, 4h, 90m: as the config writes offsets."""
    minutes = int(offset.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def reboot_start(affected: AffectedVm, event: Event) -> datetime | None:
    """When Azure's reboot window of this VM opens: its own scheduled window, else the event's."""
    redeploy = affected.vm.redeploy
    if redeploy is not None and redeploy.scheduled.start is not None:
        return redeploy.scheduled.start
    return event.window.start


def due_reminders(event: Event, vms: tuple[AffectedVm, ...], told: Callable[[], NoticeSnapshot | None],
                  last_news: datetime, settings: ReminderSettings, now: datetime) -> list[Due]:
    """The reminders due now for one receiver's share (`vms`) of a maintenance. `told` reads what the receiver
    was last told (asked only once its VMs are all done: it is a ledger read)."""
    found = []
    to_start = tuple(a for a in vms if a.state in CAN_START and a.self_service_deadline
                     and a.self_service_deadline > now)
    if to_start:
        point = min(a.self_service_deadline for a in to_start)  # type: ignore[type-var]  # filtered above
        found += _at(Reminder("deadline", point), settings.deadline, to_start, last_news, now)
    starts = {a.vm.id: start for a in vms if a.state in TO_REBOOT and (start := reboot_start(a, event)) and start > now}
    if starts:
        point = min(starts.values())
        for due in _at(Reminder("reboot", point), settings.reboot, (), last_news, now):
            until = point + due.reminder.before  # type: ignore[operator]  # set by _at
            found.append(Due(due.reminder, tuple(a for a in vms if a.vm.id in starts and starts[a.vm.id] < until)))
    if settings.all_done and vms and all(a.state is MaintenanceState.ALREADY_UPDATED for a in vms) \
            and _told_of_work(told()):
        found.append(Due(Reminder("all_done"), vms))
    return found


def _at(reminder: Reminder, offsets: tuple[timedelta, ...], vms: tuple[AffectedVm, ...], last_news: datetime,
        now: datetime) -> list[Due]:
    passed = [o for o in offsets if reminder.due - o <= now]  # type: ignore[operator]  # due is set
    if not passed:
        return []
    nearest = min(passed)
    if reminder.due - nearest <= last_news:  # type: ignore[operator]
        return []
    return [Due(Reminder(reminder.kind, reminder.due, nearest), vms)]


def _told_of_work(told: NoticeSnapshot | None) -> bool:
    return told is not None and any(vm.state in TO_REBOOT for vm in told.vms)


def schedule(event: Event, vms: tuple[AffectedVm, ...], settings: ReminderSettings, now: datetime) -> list[Reminder]:
    """The deadline and reboot reminders still ahead for this share if its VMs stay as they are, soonest first:
    what `relay route` shows. Each one's time is `due - before`."""
    points = []
    deadlines = [d for a in vms if a.state in CAN_START and (d := a.self_service_deadline) and d > now]
    if deadlines:
        points.append(("deadline", min(deadlines), settings.deadline))
    starts = [s for a in vms if a.state in TO_REBOOT and (s := reboot_start(a, event)) and s > now]
    if starts:
        points.append(("reboot", min(starts), settings.reboot))
    ahead = [Reminder(kind, point, o) for kind, point, offsets in points for o in offsets if point - o > now]
    return sorted(ahead, key=lambda r: r.due - r.before)  # type: ignore[operator]  # both set above
