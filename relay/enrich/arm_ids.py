"""Azure Resource Manager ids of virtual machines: parse them, compare them, stand in for a missing VM.

    /subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}

Azure writes the same id in mixed letter cases (`resourcegroups`, `VirtualMachines`, upper-case groups),
so ids are compared through `id_key`.
"""
from __future__ import annotations

from typing import NamedTuple

from relay.model import Vm

_VM_SHAPE = ("subscriptions", None, "resourcegroups", None, "providers", "microsoft.compute", "virtualmachines", None)


class VmId(NamedTuple):
    subscription_id: str
    resource_group: str
    name: str


def id_key(resource_id: str) -> str:
    """The form two ids are compared in."""
    return resource_id.strip().rstrip("/").lower()


def parse_vm_id(resource_id: str) -> VmId | None:
    """Subscription, resource group and name of a VM id, as written; None when it is not a VM id."""
    parts = resource_id.strip().strip("/").split("/")
    if len(parts) != len(_VM_SHAPE):
        return None
    for part, expected in zip(parts, _VM_SHAPE, strict=True):
        if not part or (expected is not None and part.lower() != expected):
            return None
    return VmId(subscription_id=parts[1], resource_group=parts[3], name=parts[7])


def vm_from_id(resource_id: str) -> Vm | None:
    """A VM known only by its id (named by Azure but missing from the inventory); None when not a VM id."""
    parsed = parse_vm_id(resource_id)
    if parsed is None:
        return None
    return Vm(
        id=resource_id.strip(),
        name=parsed.name,
        resource_group=parsed.resource_group,
        subscription_id=parsed.subscription_id,
        power_state="unknown",
    )
