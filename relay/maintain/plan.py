"""Which VMs to start maintenance on, and in which waves: plain functions over plain data, no I/O.

A wave is a set of VMs maintained at the same time; the next wave starts when the last VM of this
one is done. No wave holds more than `max_parallel` VMs, nor two VMs that share a *group*:

    availability set   (subscription, resource group, set): a set lives in its VMs' resource group
    scale set          (subscription, resource group, scale set)
    zone               (subscription, region, zone) for zonal VMs only. Zone numbers are logical and
                       each subscription maps them to physical zones on its own, so "zone 1" of two
                       subscriptions need not be the same place: only VMs of one subscription are
                       known to share a zone. A regional VM (no zone) has no zone group: Azure does
                       not say where it runs, and holding every regional VM of a region to one at a
                       time would protect nothing that its availability set does not.

A wave may hold several VMs of one availability or scale set only when the instance views put them all
in the same update domain: that is how the platform itself updates a set, one update domain at a time.
A VM whose update domain is not known goes alone among its set.

VMs go into the first wave that has room and no group of theirs, most urgent first (the nearest
self-service deadline), so the VMs whose window closes first are maintained first.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from relay.enrich.state import by_urgency
from relay.model import AffectedVm, MaintenanceState, Risk, Vm

Group = tuple[str, ...]


class Skip(StrEnum):
    """Why a VM is left out; the CLI and the messages word each one."""

    ALREADY_UPDATED = "already_updated"
    SCHEDULED = "scheduled"  # Azure offers no self-service for it: it reboots it in the scheduled window
    RETRY_LATER = "retry_later"
    NOT_IN_WAVE = "not_in_wave"
    DEALLOCATED = "deallocated"  # nothing runs on a host; it is placed on an updated one when started
    UNKNOWN = "unknown"  # Azure did not tell its maintenance status (not found, no access)
    BLOCKED = "blocked"  # a VM of one of its groups did not finish in time: it may still be in maintenance


_SKIPS = {
    MaintenanceState.ALREADY_UPDATED: Skip.ALREADY_UPDATED,
    MaintenanceState.SCHEDULED: Skip.SCHEDULED,
    MaintenanceState.RETRY_LATER: Skip.RETRY_LATER,
    MaintenanceState.NONE: Skip.NOT_IN_WAVE,
    MaintenanceState.UNKNOWN: Skip.DEALLOCATED,
}
STARTABLE = (MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW)  # the portal offers the same action


@dataclass(frozen=True)
class Skipped:
    vm: Vm
    reason: Skip


@dataclass(frozen=True)
class Plan:
    waves: tuple[tuple[AffectedVm, ...], ...]
    skipped: tuple[Skipped, ...]
    known: tuple[AffectedVm, ...] = ()  # every VM looked at, to say what else of a group is in maintenance

    @property
    def chosen(self) -> tuple[AffectedVm, ...]:
        return tuple(a for wave in self.waves for a in wave)

    def wave_of(self, vm: Vm) -> int | None:
        """1-based."""
        return next((n for n, wave in enumerate(self.waves, 1) if any(a.vm.id == vm.id for a in wave)), None)

    def neighbours(self, vm: Vm) -> tuple[AffectedVm, ...]:
        """The other VMs looked at that share its availability or scale set."""
        own = set_group(vm)
        return tuple(a for a in self.known if own and a.vm.id != vm.id and set_group(a.vm) == own)


def scale_set_of(vm: Vm) -> tuple[str, str] | None:
    """(scale set name, instance id) of a scale set's VM, from its id."""
    parts = vm.id.strip("/").split("/")
    if len(parts) == 10 and parts[6].lower() == "virtualmachinescalesets" and parts[8].lower() == "virtualmachines":
        return parts[7], parts[9]
    return None


def set_group(vm: Vm) -> Group | None:
    """Its availability set, or its scale set (whose name the lookup keeps in `availability_set`)."""
    scale_set = scale_set_of(vm)
    name = scale_set[0] if scale_set else vm.availability_set
    if not name:
        return None
    return ("scale set" if scale_set else "availability set", vm.subscription_id.lower(),
            vm.resource_group.lower(), name.lower())


def groups(vm: Vm) -> frozenset[Group]:
    found: set[Group] = {("zone", vm.subscription_id.lower(), vm.location.lower(), zone) for zone in vm.zones}
    if (own := set_group(vm)) is not None:
        found.add(own)
    return frozenset(found)


def select(affected: tuple[AffectedVm, ...] | list[AffectedVm]) -> tuple[list[AffectedVm], list[Skipped]]:
    """The VMs to start (state Start now or Retry now, not deallocated), most urgent first, and the rest."""
    chosen, skipped = [], []
    for a in by_urgency(affected):
        if a.state not in STARTABLE:
            skipped.append(Skipped(a.vm, _SKIPS[a.state]))
        elif Risk.DEALLOCATED in a.risks:
            skipped.append(Skipped(a.vm, Skip.DEALLOCATED))
        else:
            chosen.append(a)
    return chosen, skipped


def waves(chosen: list[AffectedVm], max_parallel: int) -> tuple[tuple[AffectedVm, ...], ...]:
    if max_parallel < 1:
        raise ValueError("max_parallel must be at least 1")
    planned: list[list[AffectedVm]] = []
    taken: list[dict[Group, int | None]] = []  # each wave's groups, with the update domain a set is in
    for a in chosen:
        own = groups(a.vm)
        for wave, used in zip(planned, taken, strict=True):
            if len(wave) < max_parallel and all(_shares(group, used, a.vm) for group in own):
                wave.append(a)
                used.update(dict.fromkeys(own, a.vm.update_domain))
                break
        else:
            planned.append([a])
            taken.append(dict.fromkeys(own, a.vm.update_domain))
    return tuple(tuple(wave) for wave in planned)


def _shares(group: Group, used: dict[Group, int | None], vm: Vm) -> bool:
    """May the VM join a wave that holds `used`? Not if a zone of its is there; a set of its only when the
    set's VMs there are in the VM's own (known) update domain."""
    if group not in used:
        return True
    return group[0] != "zone" and vm.update_domain is not None and used[group] == vm.update_domain


def plan(affected: tuple[AffectedVm, ...] | list[AffectedVm], max_parallel: int,
         unknown: tuple[Vm, ...] = ()) -> Plan:
    """The plan for these VMs; `unknown` ones (no status from Azure) are skipped."""
    chosen, skipped = select(affected)
    return Plan(waves(chosen, max_parallel), (*skipped, *(Skipped(vm, Skip.UNKNOWN) for vm in unknown)),
                tuple(affected))


def in_scope(vm: Vm, resource_groups: tuple[str, ...], tags: tuple[tuple[str, str], ...]) -> bool:
    """In one of these resource groups (any, when none) and carrying every one of these tags."""
    if resource_groups and vm.resource_group.lower() not in {g.lower() for g in resource_groups}:
        return False
    own = {name.lower(): value for name, value in vm.tags.items()}  # Azure tag names ignore case
    return all(own.get(name.lower()) == value for name, value in tags)
