"""What changed for each VM since the receiver's last notice of the thread, and where Azure contradicts itself.

After Azure reschedules, the event's window is only the outline: what people act on is each VM's self-service
deadline, Azure's scheduled (reboot) window and its state, and those move VM by VM. `changes_since` compares
the VMs as the last notice described them (the ledger's NoticeSnapshot) with the VMs now. `contradictions`
finds the facts about a VM that cannot all be true, which a message must show as a disagreement, not as facts.
No wording here: templates/common/text.j2 words both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from relay.enrich.snapshot import vm_snapshot
from relay.enrich.state import TO_REBOOT
from relay.model import AffectedVm, NoticeSnapshot, VmSnapshot, Window
from relay.text import one_line, shorten

NAME_LIMIT = 80  # Azure's VM names are at most 64 characters: bounds a line of the note, not a real name
CHANGE_LINES = 10  # VMs the note lists a line each; the rest are counted
FEWER_CHANGE_LINES = (5, 2, 0)  # what render tries, in turn, when a message is over its channel's budget

# What a contradiction is (Contradiction.kind).
SCHEDULED_BEFORE_EVENT = "scheduled_before_event"  # the VM's scheduled window ends before the event's starts
SCHEDULED_AFTER_EVENT = "scheduled_after_event"  # the VM's scheduled window starts after the event's ends
DEADLINE_AFTER_SCHEDULED = "deadline_after_scheduled"  # the self-service deadline is after the reboot window starts


@dataclass(frozen=True)
class VmChange:
    """One VM whose self-service deadline, scheduled window or state moved since the last notice, or that
    joined (new only) or left (old only) the receiver's VMs of the event. States are MaintenanceState values."""

    name: str
    old_deadline: datetime | None = None
    new_deadline: datetime | None = None
    old_scheduled: Window | None = None  # None: unknown
    new_scheduled: Window | None = None
    old_state: str = ""
    new_state: str = ""
    joined: bool = False
    left: bool = False

    @property
    def deadline_moved(self) -> bool:
        return not (self.joined or self.left) and self.old_deadline != self.new_deadline

    @property
    def scheduled_moved(self) -> bool:
        return not (self.joined or self.left) and self.old_scheduled != self.new_scheduled

    @property
    def state_changed(self) -> bool:
        return not (self.joined or self.left) and self.old_state != self.new_state


@dataclass(frozen=True)
class Contradiction:
    """A VM whose windows cannot all be true together (kind: one of the names above)."""

    name: str
    kind: str
    scheduled: Window  # the VM's scheduled window
    deadline: datetime | None  # its self-service deadline
    event_window: Window  # the event's whole window


def changes_since(told: NoticeSnapshot, vms: tuple[AffectedVm, ...]) -> tuple[VmChange, ...]:
    """The VMs that changed, joined or left since `told`, in the order of `vms` (most urgent first, as
    enrich sorts them), then those that left by name."""
    before = {vm.key: vm for vm in told.vms}
    now = [vm_snapshot(a) for a in vms]
    changed = [change for vm in now if (change := _change(before.get(vm.key), vm)) is not None]
    present = {vm.key for vm in now}
    gone = sorted((vm for vm in told.vms if vm.key not in present), key=lambda vm: (vm.name.lower(), vm.key))
    return tuple(changed) + tuple(_left(vm) for vm in gone)


def _change(old: VmSnapshot | None, new: VmSnapshot) -> VmChange | None:
    if old is None:
        return VmChange(_name(new), new_deadline=new.self_service.end, new_scheduled=_known(new.scheduled),
                        new_state=new.state.value, joined=True)
    change = VmChange(_name(new), old.self_service.end, new.self_service.end, _known(old.scheduled),
                      _known(new.scheduled), old.state.value, new.state.value)
    return change if change.deadline_moved or change.scheduled_moved or change.state_changed else None


def _left(old: VmSnapshot) -> VmChange:
    return VmChange(_name(old), old_deadline=old.self_service.end, old_scheduled=_known(old.scheduled),
                    old_state=old.state.value, left=True)


def contradictions(vms: tuple[AffectedVm, ...], event_window: Window) -> tuple[Contradiction, ...]:
    """The VMs still to be maintained whose own windows contradict each other or the event's window."""
    found = []
    for vm in map(vm_snapshot, vms):
        if vm.state not in TO_REBOOT or (kind := _contradiction(vm, event_window)) is None:
            continue
        found.append(Contradiction(_name(vm), kind, vm.scheduled, vm.self_service.end, event_window))
    return tuple(found)


def _contradiction(vm: VmSnapshot, event: Window) -> str | None:
    scheduled, deadline = vm.scheduled, vm.self_service.end
    if scheduled.end is not None and event.start is not None and scheduled.end <= event.start:
        return SCHEDULED_BEFORE_EVENT
    if scheduled.start is not None and event.end is not None and scheduled.start >= event.end:
        return SCHEDULED_AFTER_EVENT
    if deadline is not None and scheduled.start is not None and deadline > scheduled.start:
        return DEADLINE_AFTER_SCHEDULED
    return None


def _name(vm: VmSnapshot) -> str:
    return shorten(one_line(vm.name), NAME_LIMIT)


def _known(window: Window) -> Window | None:
    return window if (window.start or window.end) else None
