"""The VMs named on the command line (`--vm ID`), with their maintenance status, from Azure.

A VM: one GET with $expand=instanceView, and one Resource Graph query for the public IP addresses of
them all (the instance view does not say whether an address is dynamic). A scale set's VM: its scale
set's listing, one for all the named VMs of that set. Whatever cannot be read (not found, no access) is
returned as unknown.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from relay.enrich.arm_ids import id_key, parse_vm_id, vm_from_id
from relay.enrich.azure import compute, graph
from relay.enrich.state import assess
from relay.model import AffectedVm, Vm

log = logging.getLogger("relay.maintain")


def not_vm_ids(ids: list[str]) -> list[str]:
    return [vm_id for vm_id in ids if parse_vm_id(vm_id) is None and compute.scale_set_vm_from_id(vm_id) is None]


async def named(azure, ids: list[str], now: datetime) -> tuple[list[AffectedVm], list[Vm]]:
    """(the VMs found, assessed; the VMs Azure did not tell about)."""
    plain = {vm_id: unknown for vm_id in dict.fromkeys(ids) if (unknown := vm_from_id(vm_id))}
    scale_sets: dict[str, dict[str, str]] = {}  # scale set id: {id key: id as given}
    for vm_id in dict.fromkeys(ids):
        if compute.scale_set_vm_from_id(vm_id):
            scale_set = "/" + vm_id.strip().strip("/").rsplit("/", 2)[0]
            scale_sets.setdefault(id_key(scale_set), {})[id_key(vm_id)] = vm_id
    found: list[Vm] = []
    missing: list[Vm] = []

    async def one(vm_id: str, unknown: Vm) -> None:
        try:
            found.append(await compute.described(azure, vm_id))
        except Exception:  # noqa: BLE001 - not found or not readable: said as unknown
            missing.append(unknown)

    async def listing(wanted: dict[str, str]) -> None:
        some = next(iter(wanted.values()))
        try:
            vms = await compute.scale_set_vms(azure, "/" + some.strip().strip("/").rsplit("/", 2)[0], set(wanted))
        except Exception:  # noqa: BLE001
            vms = []
        found.extend(vms)
        seen = {id_key(vm.id) for vm in vms}
        missing.extend(unknown for key, vm_id in wanted.items()
                       if key not in seen and (unknown := compute.scale_set_vm_from_id(vm_id)))

    await asyncio.gather(*(one(vm_id, unknown) for vm_id, unknown in plain.items()),
                         *(listing(wanted) for wanted in scale_sets.values()))
    return [assess(vm, now) for vm in await _with_addresses(azure, found)], missing


async def _with_addresses(azure, vms: list[Vm]) -> list[Vm]:
    """The plain VMs with the allocation of their public IP addresses; as they were when Resource Graph
    cannot tell (a warning then says the plan could not check)."""
    plain = [vm.id for vm in vms if parse_vm_id(vm.id)]
    if not plain:
        return vms
    try:
        allocations = await graph.public_ip_allocations(azure, plain)
    except Exception as e:  # noqa: BLE001 - the maintenance can go on without the warning
        log.warning("could not read the VMs' public IP addresses from Resource Graph (%s): dynamic addresses, which"
                    " change on a self-service redeploy, are not pointed out", type(e).__name__)
        return vms
    return [replace(vm, public_ip_allocation=allocations.get(id_key(vm.id), vm.public_ip_allocation)) for vm in vms]
