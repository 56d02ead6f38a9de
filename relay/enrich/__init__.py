"""The enrich stage: which of our VMs an event hits, and what that means for each of them now.

Where the VMs come from is a port, `VmSource`: the offline inventory file (inventory.py) or Azure
(azure/). A source that could not see everything says so in `VmLookup.gaps`, and the messages say the
VM list is incomplete and why: enrichment never holds an alert back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from relay.enrich.state import assess, by_urgency
from relay.model import Enriched, Event, Vm

# How a source found the VMs of an event (Enriched.lookup).
BY_IMPACTED_LIST = "impacted list"  # Azure's impacted resources of the trackingId
BY_SUBSCRIPTION_AND_REGION = "subscription and region"  # VMs in a maintenance wave where the event says
BY_RESOURCE = "resource"  # the one resource of a Resource Health alert
NO_LOOKUP = "none"  # the event is not about VMs, so none were looked up
# Azure's impacted resources of the trackingId name no VM at all: Azure lists them only for compute maintenance
# that reboots VMs ("Resource impact from Azure planned maintenance"), so for other maintenance it names none.
NOT_LISTED = "not listed"

# Where a VM's maintenance state was read (Vm.state_source).
FROM_INVENTORY = "inventory"  # the offline inventory file
FROM_INSTANCE_VIEW = "instance view"  # Compute: its maintenanceRedeployStatus
FROM_MAINTENANCE_RECORD = "maintenance record"  # Resource Graph: its record in maintenanceresources

# Why a VM list is incomplete: the reasons a gap names.
DENIED = "denied"  # Azure answered 403: no read access
THROTTLED = "throttled"  # Azure's throttling did not clear within the time budget
TIMEOUT = "timeout"  # no answer within the time budget
FAILED = "failed"  # any other error
TENANT = "tenant"  # the scope of a tenant-wide search, where no subscription can be named


@dataclass(frozen=True)
class VmLookup:
    """What a source found: the VMs, how it found them (one of the lookups above), and its gaps."""

    vms: list[Vm]
    method: str
    gaps: tuple[str, ...] = ()


class Gap(NamedTuple):
    """One gap, as its text says it: "<reason> <subscription id or tenant>[ <VMs without a status>]".

    Without a VM count, the VMs of that scope are missing from the list; with one, they are listed
    but their maintenance status is not fully known: their instance view, or (for VMs in an availability
    set) whether the set's other VMs are all deallocated, could not be read.
    """

    reason: str
    scope: str
    vms: int | None = None

    def __str__(self) -> str:
        return f"{self.reason} {self.scope}" + (f" {self.vms}" if self.vms else "")

    @classmethod
    def parse(cls, text: str) -> Gap:
        reason, _, rest = text.strip().partition(" ")
        scope, _, count = rest.partition(" ")
        return cls(reason, scope or TENANT, int(count) if count.isdigit() else None)


class VmSource(Protocol):
    def affected_vms(self, event: Event) -> VmLookup:
        """The VMs the event hits, how they were found, and what could not be seen."""
        ...



class NoInventory:
    """The VM source when none is configured: events are relayed without a VM list."""

    def affected_vms(self, event: Event) -> VmLookup:
        return VmLookup([], "no inventory")


def concerns_vms(event: Event) -> bool:
    """An event naming services but no VM service (say, SQL Database) hits no VM of ours."""
    return not event.services or any("virtual machine" in service.lower() for service in event.services)


def enrich(event: Event, source: VmSource, now: datetime) -> Enriched:
    found = source.affected_vms(event)
    return Enriched(
        event=event,
        now=now,
        vms=by_urgency([assess(vm, now) for vm in found.vms]),
        lookup=found.method,
        gaps=found.gaps,
    )
