"""What a receiver's calendar shows of one maintenance: plain data, no wording.

- A deadline entry: the VMs that can still be maintained by self-service (Start now, Retry now, Retry later),
  ending at the earliest of their self-service deadlines. A deadline is a moment, and Outlook needs an end
  after the start, so the entry is the DEADLINE_SLOT before it.
- A reboot entry: the VMs not yet updated, over Azure's scheduled windows (the earliest start to the latest
  end; the event's own window when no VM gives one).

Each entry's UID is stable per maintenance, receiver and kind, so a later file replaces the entry a calendar
holds. Its SEQUENCE counts the maintenance's Rescheduled communications, and once more when it is canceled:
RFC 5545 §3.8.7.4 has it raised on every significant revision, and calendars keep the highest they saw.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from relay.enrich.state import TO_REBOOT
from relay.model import CALENDAR_ENTRIES, EARLIEST, MaintenanceState, VmSnapshot, Window

if TYPE_CHECKING:  # relay.render.email makes entries of its view: at run time relay.render imports this module
    from relay.render.view import View

KINDS = CALENDAR_ENTRIES
DEADLINE, REBOOT = KINDS
DEADLINE_SLOT = timedelta(minutes=30)
VM_LIMIT = 50  # VMs listed in an entry's description; the rest are counted
UID_DOMAIN = "azure-maintenance-relay"
# Inside the self-service window, whether or not it can be started this minute: still the owner's to do.
SELF_SERVICE = frozenset({MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW, MaintenanceState.RETRY_LATER})
_CANCELED = ("canceled", "cancelled")
_CLOSED = ("complete", "completed", *_CANCELED)


@dataclass(frozen=True)
class Maintenance:
    """One maintenance as a receiver was told it: the thread's latest communication and that receiver's VMs."""

    thread_key: str
    tracking_id: str
    title: str
    link: str | None
    window: Window  # the event's: the reboot entry's times when no VM gives its own
    sequence: int
    cancelled: bool
    stamp: datetime  # when the relay read what it says: the entries' DTSTAMP
    vms: tuple[VmSnapshot, ...]


@dataclass(frozen=True)
class CalendarVm:
    """A VM listed under an entry, with its own window: self-service (its end is the VM's deadline), or scheduled."""

    name: str
    window: Window


@dataclass(frozen=True)
class Entry:
    uid: str
    kind: str  # DEADLINE or REBOOT
    tracking_id: str
    title: str
    link: str | None
    start: datetime
    end: datetime  # after the start
    sequence: int
    cancelled: bool
    stamp: datetime
    vms: tuple[CalendarVm, ...]  # the first VM_LIMIT, soonest first
    total: int  # every VM of the entry

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


def is_canceled(stage: str | None) -> bool:
    return (stage or "").lower() in _CANCELED


def is_closed(stage: str | None) -> bool:
    """Complete or canceled: nothing will change any more."""
    return (stage or "").lower().replace(" ", "") in _CLOSED


def uid(thread_key: str, receiver: str, kind: str) -> str:
    digest = hashlib.sha256("\x1f".join((thread_key, receiver, kind)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}-{digest[:32]}@{UID_DOMAIN}"


def of_view(view: View) -> Maintenance:
    """The maintenance a message shows: its receiver's VMs, as the ledger keeps them once it is delivered."""
    cancelled = view.change == "canceled"
    vms = tuple(VmSnapshot(key=row.name, name=row.name, state=MaintenanceState(row.state),
                           self_service=row.self_service or Window(), scheduled=row.scheduled or Window())
                for row in view.rows)
    return Maintenance(view.thread, view.tracking_id, view.title, view.link, view.window,
                       view.reschedules + cancelled, cancelled, view.now, vms)


def entries(maintenance: Maintenance, receiver: str, kinds: tuple[str, ...]) -> tuple[Entry, ...]:
    """The receiver's entries of this maintenance, of the kinds it wants; none of a kind without its VMs."""
    made = []
    if DEADLINE in kinds:
        due = sorted((CalendarVm(vm.name, vm.self_service) for vm in maintenance.vms
                      if vm.state in SELF_SERVICE and vm.self_service.end is not None),
                     key=lambda vm: (vm.window.end, vm.name.lower()))
        if due:
            deadline = min(vm.window.end for vm in due if vm.window.end is not None)
            made.append(_entry(maintenance, receiver, DEADLINE, deadline - DEADLINE_SLOT, deadline, due))
    if REBOOT in kinds:
        reboot = sorted((CalendarVm(vm.name, vm.scheduled) for vm in maintenance.vms if vm.state in TO_REBOOT),
                        key=lambda vm: (vm.window.start or EARLIEST, vm.name.lower()))
        span = _span([vm.window for vm in reboot]) or _span([maintenance.window])
        if reboot and span:
            made.append(_entry(maintenance, receiver, REBOOT, *span, reboot))
    return tuple(made)


def _entry(m: Maintenance, receiver: str, kind: str, start: datetime, end: datetime, vms: list[CalendarVm]) -> Entry:
    return Entry(uid(m.thread_key, receiver, kind), kind, m.tracking_id, m.title, m.link, start, end, m.sequence,
                 m.cancelled, m.stamp, tuple(vms[:VM_LIMIT]), len(vms))


def _span(windows: list[Window]) -> tuple[datetime, datetime] | None:
    """From the earliest start to the latest end; None without both, or when the end is not after the start."""
    starts = [w.start for w in windows if w.start is not None]
    ends = [w.end for w in windows if w.end is not None]
    if not starts or not ends or max(ends) <= min(starts):
        return None
    return min(starts), max(ends)
