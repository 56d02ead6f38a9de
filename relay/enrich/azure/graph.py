"""Resource Graph: the impacted resources of a trackingId, joined to the facts of each VM, in one query.

One row per impacted resource (servicehealthresources, microsoft.resourcehealth/events/
impactedresources) that is a VM, a scale set or a scale set's VM, left-joined to the VM in `resources`
with its availability set, scale set, zones, tags, power state and the allocation of every public IP
on its network interfaces. Three joins, one of them across tables: the most Resource Graph allows.
Pages of 1,000 rows with $skipToken (the query projects `id`, without which no token comes back),
fewer than 300 subscriptions a query, as Resource Graph's guidance for throttled requests asks. Rows come in the order of the impacted resources' names, opaque
ids that mix the subscriptions: every subscription's VMs start on the first pages, so every
subscription's read bucket starts working at once (ordered by `id`, the last subscription's VMs would
wait for the last page).

Two more queries name resources in their text: the public IP allocations of named VMs (`relay maintain`),
and the VMs of the availability sets of the impacted VMs with their power state (one query for all sets,
paged the same way), which tells a VM whose set's other VMs are all deallocated.
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator

from relay.enrich.arm_ids import id_key, parse_vm_id
from relay.model import Vm

PAGE = 1000
SUBSCRIPTIONS_PER_QUERY = 299  # "fewer than 300"
TRACKING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

VM_TYPE = "microsoft.compute/virtualmachines"
SCALE_SET_TYPE = "microsoft.compute/virtualmachinescalesets"
SCALE_SET_VM_TYPE = "microsoft.compute/virtualmachinescalesets/virtualmachines"

# The allocations (Dynamic, Static) of each VM's public IP addresses, found through its network interfaces
# and keyed by `targetId`, the VM's id in lower case; `{filter}` may narrow it to some VMs.
_ALLOCATIONS = """\
resources
| where type =~ 'microsoft.network/networkinterfaces'
| mv-expand ipConfiguration = properties.ipConfigurations
| project targetId = tolower(tostring(properties.virtualMachine.id)),
          publicIpId = tolower(tostring(ipConfiguration.properties.publicIPAddress.id))
| where isnotempty(publicIpId){filter}
| join kind=inner (
    resources
    | where type =~ 'microsoft.network/publicipaddresses'
    | project publicIpId = tolower(id), allocation = tostring(properties.publicIPAllocationMethod)
  ) on publicIpId
| summarize allocations = make_set(allocation) by targetId"""

_QUERY = """\
servicehealthresources
| where type =~ 'microsoft.resourcehealth/events/impactedresources'
| where id contains '/events/{tracking_id}/impactedresources/'
| extend targetId = tolower(tostring(properties.targetResourceId)),
         targetType = tolower(tostring(properties.targetResourceType))
| where targetType in ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets',
                       'microsoft.compute/virtualmachinescalesets/virtualmachines')
| project id, impactedName = name, subscriptionId, targetId, targetType, target = tostring(properties.targetResourceId)
| join kind=leftouter (
    resources
    | where type =~ 'microsoft.compute/virtualmachines'
    | project targetId = tolower(id), vmId = id, name, resourceGroup, location, zones, tags,
              availabilitySet = tostring(properties.availabilitySet.id),
              scaleSet = tostring(properties.virtualMachineScaleSet.id),
              powerState = tostring(properties.extended.instanceView.powerState.code)
    | join kind=leftouter (
{allocations}
      ) on targetId
  ) on targetId
| project id, impactedName, subscriptionId, targetType, target, vmId, name, resourceGroup, location, zones, tags,
          availabilitySet, scaleSet, powerState, allocations
| order by impactedName asc, id asc"""


IDS_PER_QUERY = 200  # VM ids written into one query's text
_PLAIN_ID = re.compile(r"^/subscriptions/[0-9a-f-]{36}/resourcegroups/[\w().-]+/providers/microsoft\.compute/"
                       r"virtualmachines/[\w.-]+$")


def query(tracking_id: str) -> str:
    """The query for one trackingId (checked: it goes into the query text)."""
    if not TRACKING_ID.match(tracking_id):
        raise ValueError(f"not a trackingId: {tracking_id!r}")
    return _QUERY.format(tracking_id=tracking_id.lower(), allocations=textwrap.indent(_ALLOCATIONS.format(filter=""), " " * 8))


def impacted_rows(azure, tracking_id: str, subscriptions: list[str] | None) -> AsyncIterator[list[dict]]:
    """Pages of rows; `subscriptions` None searches every subscription the identity can read."""
    return pages(azure, query(tracking_id), subscriptions)


def batches(subscriptions: list[str] | None) -> list[list[str] | None]:
    """The subscriptions in the groups one query is sent for; None (every readable one) as it is."""
    if subscriptions is None:
        return [None]
    return [subscriptions[i:i + SUBSCRIPTIONS_PER_QUERY] for i in range(0, len(subscriptions), SUBSCRIPTIONS_PER_QUERY)]


async def pages(azure, text: str, subscriptions: list[str] | None) -> AsyncIterator[list[dict]]:
    """Every page of a query's rows, a batch of subscriptions after the other, following $skipToken."""
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    for batch in batches(subscriptions):
        token = None
        while True:
            options = QueryRequestOptions(top=PAGE, skip_token=token, result_format="objectArray")
            response = await azure.graph.resources(QueryRequest(subscriptions=batch, query=text, options=options))
            yield list(response.data or [])
            token = response.skip_token
            if not token:
                break


def addresses_query(vm_ids: list[str]) -> str:
    """The public IP allocations of these VMs (`relay maintain start --vm`, for the dynamic-address
    warning). The ids are checked: they go into the query text."""
    ids = [id_key(vm_id) for vm_id in vm_ids]
    if bad := [vm_id for vm_id in ids if not _PLAIN_ID.match(vm_id)]:
        raise ValueError(f"not a VM id: {bad[0]!r}")
    quoted = ", ".join(f"'{vm_id}'" for vm_id in ids)
    narrowed = _ALLOCATIONS.format(filter=f" and targetId in ({quoted})")
    return f"{narrowed}\n| project id = targetId, allocations"


async def public_ip_allocations(azure, vm_ids: list[str]) -> dict[str, str]:
    """{id_key of the VM: "Dynamic" or "Static"} for the VMs with a public IP address."""
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    found: dict[str, str] = {}
    for i in range(0, len(vm_ids), IDS_PER_QUERY):
        batch = vm_ids[i:i + IDS_PER_QUERY]
        subscriptions = sorted({parsed.subscription_id.lower() for vm_id in batch if (parsed := parse_vm_id(vm_id))})
        options = QueryRequestOptions(top=PAGE, result_format="objectArray")
        response = await azure.graph.resources(QueryRequest(subscriptions=subscriptions, query=addresses_query(batch),
                                                            options=options))
        for row in response.data or []:
            if allocation := allocation_of(row.get("allocations")):
                found[id_key(str(row["id"]))] = allocation
    return found


# The VMs of some availability sets and their power state: the impacted list leaves deallocated VMs out, so
# whether a VM's set has any other VM running is asked here. Field names as Microsoft documents them:
# `properties.availabilitySet.id` (Compute REST, VirtualMachine) and `properties.extended.instanceView.
# powerState.code` (Resource Graph's extended properties, "Understanding the Azure Resource Graph query language").
_SET_MEMBERS = """\
resources
| where type =~ 'microsoft.compute/virtualmachines'
| where tostring(properties.availabilitySet.id) in~ ({sets})
| project id, availabilitySet = tolower(tostring(properties.availabilitySet.id)),
          powerState = tostring(properties.extended.instanceView.powerState.code)
| order by id asc"""
_SET_ID = re.compile(r"^/subscriptions/[0-9a-f-]{36}/resourcegroups/[\w().-]+/providers/microsoft\.compute/"
                     r"availabilitysets/[\w.-]+$")


def set_members_query(set_ids: list[str]) -> str:
    """The VMs of these availability sets (ids checked: they go into the query text)."""
    keys = [id_key(set_id) for set_id in set_ids]
    if bad := [key for key in keys if not _SET_ID.match(key)]:
        raise ValueError(f"not an availability set id: {bad[0]!r}")
    return _SET_MEMBERS.format(sets=", ".join(f"'{key}'" for key in keys))


async def set_members(azure, set_ids: list[str]) -> dict[str, dict[str, str]]:
    """{id_key of a set: {id_key of each of its VMs: power state, as the inventory writes it}}: one query
    (a query each IDS_PER_QUERY sets), paged like the impacted VMs."""
    members: dict[str, dict[str, str]] = {id_key(set_id): {} for set_id in set_ids}
    for i in range(0, len(set_ids), IDS_PER_QUERY):
        batch = set_ids[i:i + IDS_PER_QUERY]
        subscriptions = sorted({set_id.split("/")[2].lower() for set_id in batch})
        async for page in pages(azure, set_members_query(batch), subscriptions):
            for row in page:
                found = members.setdefault(id_key(str(row.get("availabilitySet") or "")), {})
                found[id_key(str(row["id"]))] = power_state(row.get("powerState"))
    return members


def allocation_of(allocations) -> str | None:
    """Dynamic when any of the VM's public addresses is (it is the one that changes), else Static."""
    found = {str(a).lower() for a in allocations or ()}
    return "Dynamic" if "dynamic" in found else ("Static" if "static" in found else None)


def vm_of(row: dict) -> Vm | None:
    """The VM of a row that found its VM in `resources`; None when it did not (a scale set, one of its
    VMs, or a VM Resource Graph does not list)."""
    if not row.get("vmId"):
        return None
    return Vm(
        id=row["vmId"],
        name=row.get("name") or row["vmId"].rsplit("/", 1)[-1],
        resource_group=row.get("resourceGroup") or "",
        subscription_id=row.get("subscriptionId") or "",
        location=row.get("location") or "",
        zones=tuple(str(zone) for zone in row.get("zones") or ()),
        availability_set=group_name(row.get("availabilitySet"), row.get("scaleSet")),
        power_state=power_state(row.get("powerState")),
        public_ip_allocation=allocation_of(row.get("allocations")),
        tags=tags_of(row.get("tags")),
    )


def tags_of(raw: dict | None) -> dict[str, str]:
    return {str(name): "" if value is None else str(value) for name, value in (raw or {}).items()}


def group_name(availability_set: str | None, scale_set: str | None) -> str | None:
    """The availability set a VM is in; failing that, its scale set, whose VMs Azure also maintains
    one update domain at a time."""
    for group in (availability_set, scale_set):
        if group:
            return group.rstrip("/").rsplit("/", 1)[-1]
    return None


def power_state(code: str | None) -> str:
    """"PowerState/running" → "running", the way the inventory writes it."""
    return (code or "").rsplit("/", 1)[-1].lower() or "unknown"
