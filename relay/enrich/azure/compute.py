"""Compute: the maintenanceRedeployStatus of each VM, with the fewest calls Azure offers for it.

A VM: one instance view (GET …/virtualMachines/{vm}/instanceView, Compute's "Low Cost Get"). No list
is documented to carry it: the REST spec describes `statusOnly=true` on the subscription's VM list as
"run time status" (what public code reads from it is the power state), `$expand=instanceView` on VM
lists is accepted only with a scale set $filter, and Microsoft's own tools ask VM by VM (the
maintenance how-tos use `az vm get-instance-view`; Get-AzVM -Status over a list sends one
Get ?$expand=instanceView a VM, for at most 100 VMs).
A scale set: one listing of its VMs with $expand=instanceView, documented (az vmss list-instances
--expand instanceView) to return maintenanceRedeployStatus for each VM.
A VM that Resource Graph did not describe: one GET with $expand=instanceView, facts and status at once.

Bodies are read as JSON, not deserialized into SDK models: ten thousand of them add up.
"""
from __future__ import annotations

import json
from dataclasses import replace

from relay.enrich import FROM_INSTANCE_VIEW
from relay.enrich.arm_ids import VmId, id_key, parse_vm_id
from relay.enrich.azure.graph import group_name, power_state, tags_of
from relay.enrich.inventory import redeploy_status
from relay.model import RedeployStatus, Vm


async def with_status(azure, vm: Vm) -> Vm:
    """The VM with its maintenance status and current power state from its instance view."""
    parsed = _parsed(vm.id)
    operations = azure.compute(parsed.subscription_id.lower()).virtual_machines
    view = await _json(operations.instance_view(parsed.resource_group, parsed.name, stream=True, cls=_raw))
    redeploy, power = _status(view)
    return replace(vm, redeploy=redeploy, power_state=power or vm.power_state, state_source=FROM_INSTANCE_VIEW)


async def described(azure, vm_id: str) -> Vm:
    """A VM known only by its id: facts and status from one GET with $expand=instanceView."""
    parsed = _parsed(vm_id)
    operations = azure.compute(parsed.subscription_id.lower()).virtual_machines
    body = await _json(operations.get(parsed.resource_group, parsed.name, expand="instanceView", stream=True, cls=_raw))
    properties = body.get("properties") or {}
    group = group_name(_id(properties.get("availabilitySet")), _id(properties.get("virtualMachineScaleSet")))
    return _record(body, body.get("id") or vm_id, parsed, group, properties.get("instanceView"))


async def scale_set_vms(azure, scale_set_id: str, wanted: set[str] | None) -> list[Vm]:
    """The scale set's VMs with their status: those in `wanted` (id keys), or, without it, every VM
    in a maintenance wave."""
    parts = scale_set_id.strip("/").split("/")
    where = VmId(subscription_id=parts[1], resource_group=parts[3], name=parts[7])
    operations = azure.compute(where.subscription_id.lower()).virtual_machine_scale_set_vms
    found = []
    async for item in operations.list(where.resource_group, where.name, expand="instanceView"):
        body = item.as_dict()
        vm_id = body.get("id") or f"{scale_set_id}/virtualMachines/{body.get('instanceId')}"
        vm = _record(body, vm_id, where, where.name, (body.get("properties") or {}).get("instanceView"))
        if (id_key(vm_id) in wanted) if wanted is not None else vm.redeploy is not None:
            found.append(vm)
    return found


def scale_set_vm_from_id(vm_id: str) -> Vm | None:
    """A scale set's VM known only by its id (…/virtualMachineScaleSets/{set}/virtualMachines/{n})."""
    parts = vm_id.strip().strip("/").split("/")
    if len(parts) != 10 or parts[6].lower() != "virtualmachinescalesets" or parts[8].lower() != "virtualmachines":
        return None
    return Vm(id=vm_id.strip(), name=f"{parts[7]}_{parts[9]}", resource_group=parts[3], subscription_id=parts[1],
              availability_set=parts[7], power_state="unknown")


def _parsed(vm_id: str) -> VmId:
    parsed = parse_vm_id(vm_id)
    if parsed is None:
        raise ValueError(f"not a VM id: {vm_id!r}")
    return parsed


def _record(body: dict, vm_id: str, where: VmId, group: str | None, view: dict | None) -> Vm:
    redeploy, power = _status(view or {})
    return Vm(
        id=vm_id,
        name=body.get("name") or vm_id.rsplit("/", 1)[-1],
        resource_group=where.resource_group,
        subscription_id=where.subscription_id,
        location=body.get("location") or "",
        zones=tuple(str(zone) for zone in body.get("zones") or ()),
        availability_set=group,
        power_state=power or "unknown",
        tags=tags_of(body.get("tags")),
        redeploy=redeploy,
        update_domain=_update_domain((view or {}).get("platformUpdateDomain")),
        state_source=FROM_INSTANCE_VIEW,
    )


def _update_domain(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _status(view: dict) -> tuple[RedeployStatus | None, str | None]:
    codes = (str(status.get("code") or "") for status in view.get("statuses") or ())
    power = next((code for code in codes if code.startswith("PowerState/")), None)
    return redeploy_status(view.get("maintenanceRedeployStatus")), power_state(power) if power else None


def _id(reference: dict | None) -> str | None:
    return (reference or {}).get("id")


def _raw(pipeline_response, body, headers):
    return pipeline_response.http_response


async def _json(call) -> dict:
    response = await call
    return json.loads(await response.read())
