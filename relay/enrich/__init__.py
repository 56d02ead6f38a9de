"""The enrich stage: which of our VMs an event hits, and what that means for each of them now.

Where the VMs come from is a port, `VmSource`: the offline inventory file (inventory.py) or Azure.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..maintenance import assess, by_urgency
from ..model import Enriched, Event, Vm

# How a source found the VMs of an event (Enriched.lookup).
BY_IMPACTED_LIST = "impacted list"  # Azure's impacted resources of the trackingId
BY_SUBSCRIPTION_AND_REGION = "subscription and region"  # VMs in a maintenance wave where the event says
BY_RESOURCE = "resource"  # the one resource of a Resource Health alert
NO_LOOKUP = "none"  # the event is not about VMs, so none were looked up


class VmSource(Protocol):
    def affected_vms(self, event: Event) -> tuple[list[Vm], str]:
        """The VMs the event hits, and how they were found (one of the lookups above)."""
        ...


def enrich(event: Event, source: VmSource, now: datetime) -> Enriched:
    vms, lookup = source.affected_vms(event)
    return Enriched(event=event, now=now, vms=by_urgency([assess(vm, now) for vm in vms]), lookup=lookup)
