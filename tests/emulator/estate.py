"""A generated Azure estate: subscriptions, VMs (some in scale sets), NICs, public IPs, the impacted
resources of one maintenance trackingId and the VMs' maintenance records — what the emulator serves.
Besides, each subscription's Activity Log and Resource Health events, empty until a test adds records
(`activity_record` makes one of an example alert, `planned_maintenance` a Resource Health event).

A VM's maintenance state is held once, as its instance view writes it (`EstateVm.redeploy`); its record
in `maintenanceresources` is written from it when asked (records.py), so the two always tell the same.

Deterministic for a given shape. Azure writes ids in many letter cases, so the impacted resources name
their VMs in several (`resourcegroups`, upper-case groups, `VirtualMachines`, all lower case).
`inventory()` writes the same VMs as the offline inventory file, to check that the Azure source
produces the same records.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from tests.emulator import records

NOW = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)
TRACKING_ID = "XY12-3ZQ"
MAINTENANCE_ID = "d1d1d1d1-0000-4111-8222-333333333333"  # the alert's maintenanceId, its records' plannedMaintenanceId


def subscription_id(n: int) -> str:
    return f"{n:08x}-5ab0-4c1d-8e2f-{n:012x}"


@dataclass
class EstateVm:
    id: str  # as Azure created it
    name: str
    resource_group: str
    subscription: str
    location: str = "japaneast"
    zones: list[str] = field(default_factory=list)
    availability_set: str | None = None  # name
    scale_set: str | None = None  # id of a uniform scale set this VM belongs to
    instance_id: str | None = None
    power: str = "PowerState/running"
    public_ip: str | None = None  # Static, Dynamic
    tags: dict[str, str] = field(default_factory=dict)
    redeploy: dict | None = None  # maintenanceRedeployStatus as the instance view writes it
    update_domain: int | None = None  # platformUpdateDomain, when the estate gives its sets update domains
    impacted_as: str | None = None  # the id the impacted resource names it by (its own casing), if impacted
    recorded: bool = False  # it has a maintenance record
    record_update: dict = field(default_factory=dict)  # fields a test sets on its record's Host update (None: removes)

    @property
    def type(self) -> str:
        kind = "virtualMachineScaleSets/virtualMachines" if self.scale_set else "virtualMachines"
        return f"Microsoft.Compute/{kind}"


class Target(NamedTuple):
    """One impacted resource: its own id, and the resource it names (a VM, a scale set's VM, a scale set)."""

    id: str
    subscription: str
    type: str
    target: str
    vm: EstateVm | None  # None for a whole scale set


class Estate:
    """`vms` impacted VMs spread over `subscriptions`, plus `bystanders` unaffected VMs in each, and
    `scale_sets` uniform scale sets of `instances` VMs of which the first `impacted_instances` are hit
    (named one by one, or, with `whole_scale_sets`, by the scale set alone). With `update_domains`, the
    instance views put the VMs of each scale set in that many update domains, in turn. A share `recorded`
    of the impacted VMs (1: all, 0: none), spread evenly over their states, have a maintenance record."""

    def __init__(self, vms: int = 30, subscriptions: int = 2, *, bystanders: int = 2, scale_sets: int = 0,
                 instances: int = 4, impacted_instances: int = 2, whole_scale_sets: bool = False,
                 update_domains: int | None = None, recorded: float = 1.0, tracking_id: str = TRACKING_ID,
                 maintenance_id: str = MAINTENANCE_ID, now: datetime = NOW):
        self.tracking_id, self.maintenance_id, self.now = tracking_id, maintenance_id, now
        self.whole_scale_sets, self.recorded = whole_scale_sets, recorded
        self.subscriptions = [subscription_id(n + 1) for n in range(subscriptions)]
        self.vms: list[EstateVm] = []
        for i in range(vms):
            self.vms.append(self._vm(i, self.subscriptions[i % subscriptions], impacted=True))
        for n, sub in enumerate(self.subscriptions):
            self.vms += [self._vm(vms + n * bystanders + j, sub, impacted=False) for j in range(bystanders)]
        self.scale_sets: list[str] = []
        for s in range(scale_sets):
            sub = self.subscriptions[s % subscriptions]
            scale_set = (f"/subscriptions/{sub}/resourceGroups/rg-vmss/providers/Microsoft.Compute"
                         f"/virtualMachineScaleSets/vmss-{s:02d}")
            self.scale_sets.append(scale_set)
            for k in range(instances):
                vm = self._vm(k, sub, impacted=k < impacted_instances, scale_set=scale_set)
                vm.update_domain = k % update_domains if update_domains else None
                self.vms.append(vm)
        self._by_key = {vm.id.lower(): vm for vm in self.vms}
        self.activity: list[dict] = []  # Activity Log records of every subscription (subscriptionId says whose)
        self.health_events: dict[str, list[dict]] = {}  # Resource Health events by subscription

    def _vm(self, i: int, sub: str, impacted: bool, scale_set: str | None = None) -> EstateVm:
        group = f"rg-{i % 7:02d}"
        if scale_set:
            name = f"{scale_set.rsplit('/', 1)[-1]}_{i}"
            vm_id = f"{scale_set}/virtualMachines/{i}"
            group = "rg-vmss"
        else:
            name = f"vm-{sub[6:8]}-{i:05d}"
            vm_id = f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"
        return EstateVm(
            id=vm_id,
            name=name,
            resource_group=group,
            subscription=sub,
            zones=[str(i // 3 % 3 + 1)] if i % 3 == 0 else [],
            availability_set=f"as-{group}" if i % 3 == 1 and not scale_set else None,
            scale_set=scale_set,
            instance_id=str(i) if scale_set else None,
            power="PowerState/deallocated" if i % 17 == 16 else "PowerState/running",
            public_ip={0: "Dynamic", 1: "Static"}.get(i % 4) if not scale_set else None,
            tags={"env": "prod" if i % 2 else "dev", "owner": f"team-{i % 5}"},
            redeploy=self._redeploy(i) if impacted else None,
            impacted_as=_casing(vm_id, i) if impacted else None,
            recorded=impacted and records.share(vm_id) < self.recorded,
        )

    def _redeploy(self, i: int) -> dict | None:
        """Start now, Scheduled (its self-service window over, Azure's scheduled window begun), Already
        updated, Retry later (a failed attempt that cannot be retried yet: isCustomerInitiatedMaintenanceAllowed
        false), or (1 in 10) out of the wave already. Azure's scheduled window starts when the self-service
        window ends, as a maintenance record's one time (notBefore) says."""
        kind = i % 10
        if kind == 9:
            return None
        day = timedelta(days=1)
        started, deadline = self.now - 14 * day, self.now + 3 * day + timedelta(hours=i % 48)
        if 4 <= kind <= 6:
            deadline = self.now - day
        return {
            "isCustomerInitiatedMaintenanceAllowed": kind < 4,
            "preMaintenanceWindowStartTime": _iso(started),
            "preMaintenanceWindowEndTime": _iso(deadline),
            "maintenanceWindowStartTime": _iso(deadline),
            "maintenanceWindowEndTime": _iso(self.now + 6 * day),
            "lastOperationResultCode": {7: "MaintenanceCompleted", 8: "RetryLater"}.get(kind, "None"),
            "lastOperationMessage": None,
        }

    # --- what the emulator looks up ----------------------------------------------------------------

    def vm(self, vm_id: str) -> EstateVm | None:
        return self._by_key.get(vm_id.lower())

    def impacted(self) -> list[EstateVm]:
        return [vm for vm in self.vms if vm.impacted_as]

    def records(self) -> list[dict]:
        """The maintenance records of the VMs that have one, as `maintenanceresources` holds them."""
        return [records.record(vm, self.tracking_id, self.maintenance_id) for vm in self.vms if vm.recorded]

    def scale_set_vms(self, scale_set: str) -> list[EstateVm]:
        return [vm for vm in self.vms if vm.scale_set and vm.scale_set.lower() == scale_set.lower()]

    def targets(self) -> list[Target]:
        """The impacted resources of the trackingId."""
        targets = [self._target(vm.subscription, vm.type, vm.impacted_as, vm) for vm in self.impacted()
                   if not (vm.scale_set and self.whole_scale_sets)]
        if self.whole_scale_sets:
            hit = dict.fromkeys((vm.scale_set, vm.subscription) for vm in self.impacted() if vm.scale_set)
            targets += [self._target(sub, "Microsoft.Compute/virtualMachineScaleSets", scale_set, None)
                        for scale_set, sub in hit]
        return targets

    def _target(self, subscription: str, kind: str, target: str, vm: EstateVm | None) -> Target:
        name = hashlib.sha1(target.lower().encode()).hexdigest()[:12]
        resource = f"/subscriptions/{subscription}/providers/Microsoft.ResourceHealth/events/{self.tracking_id}" \
                   f"/impactedResources/{name}"
        return Target(resource, subscription, kind, target, vm)

    def log(self, *records: dict) -> None:
        self.activity.extend(records)

    def announce(self, subscription: str, *events: dict) -> None:
        self.health_events.setdefault(subscription.lower(), []).extend(events)

    def activity_between(self, subscription: str, start: datetime, end: datetime) -> list[dict]:
        """The subscription's records with start <= eventTimestamp <= end, newest first (as the log lists them)."""
        records = [r for r in self.activity if r["subscriptionId"].lower() == subscription.lower()
                   and start <= _time(r["eventTimestamp"]) <= end]
        return sorted(records, key=lambda r: _time(r["eventTimestamp"]), reverse=True)

    def events_since(self, subscription: str, since: datetime) -> list[dict]:
        """The subscription's Resource Health events last updated at or after `since`."""
        return [e for e in self.health_events.get(subscription.lower(), [])
                if _time(e["properties"]["lastUpdateTime"]) >= since]

    # --- the offline inventory of the same VMs -----------------------------------------------------

    def inventory(self) -> dict:
        """The plain VMs as relay/enrich/inventory.py reads them (it has no scale sets)."""
        plain = [vm for vm in self.vms if not vm.scale_set]
        return {
            "impacted": {self.tracking_id: [vm.impacted_as for vm in plain if vm.impacted_as]},
            "vms": [
                {
                    "id": vm.id, "name": vm.name, "resourceGroup": vm.resource_group, "subscriptionId": vm.subscription,
                    "location": vm.location, "zones": vm.zones, "availabilitySet": vm.availability_set,
                    "powerState": vm.power.split("/", 1)[1], "publicIpAllocation": vm.public_ip, "tags": vm.tags,
                    "maintenanceRedeployStatus": vm.redeploy,
                }
                for vm in plain
            ],
        }


def _casing(vm_id: str, i: int) -> str:
    """The id as an impacted resource might write it."""
    variant = i % 4
    if variant == 1:
        return vm_id.lower()
    if variant == 2:
        parts = vm_id.split("/")
        parts[3], parts[4] = "resourcegroups", parts[4].upper()
        return "/".join(parts).replace("/virtualMachines/", "/VirtualMachines/")
    if variant == 3:
        return vm_id.replace("Microsoft.Compute", "microsoft.compute").replace(vm_id.split("/")[2], vm_id.split("/")[2].upper())
    return vm_id


# --- Service Health news ------------------------------------------------------------------------------

_LEVELS = ("Critical", "Error", "Warning", "Informational", "Verbose")


def activity_record(alert: dict[str, Any], subscription: str | None = None, at: datetime | None = None) -> dict:
    """The Activity Log record (EventData, as the REST list returns it) of the event an alert carries, in
    either schema: in `subscription` (default: the alert's own), at `at` (default: its eventTimestamp)."""
    data = alert["data"]
    log = data["alertContext"] if "alertContext" in data else data["context"]["activityLog"]
    if subscription is None:
        targets = data.get("essentials", {}).get("alertTargetIDs") or [f"/subscriptions/{log['subscriptionId']}"]
        subscription = targets[0].split("/")[2]
    operation = log["operationName"]
    category = "ServiceHealth" if operation.lower().startswith("microsoft.servicehealth/") else "ResourceHealth"
    level = log["level"] if isinstance(log["level"], str) else _LEVELS[log["level"]]
    when = _iso(at) if at else log["eventTimestamp"]
    return {
        "caller": None, "channels": log.get("channels"), "correlationId": log["correlationId"],
        "description": log.get("description") or "", "eventDataId": log["eventDataId"],
        "eventName": {"value": "", "localizedValue": ""},
        "category": {"value": category, "localizedValue": category},
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values"
              f"/{log['eventDataId']}",
        "level": level, "operationId": log.get("operationId"),
        "operationName": {"value": operation, "localizedValue": operation},
        "properties": {k: v if isinstance(v, str) else json.dumps(v)  # Dictionary<string, string>
                       for k, v in log["properties"].items() if v is not None},
        "status": {"value": log["status"], "localizedValue": log["status"]},
        "subStatus": {"value": "", "localizedValue": ""},
        "eventTimestamp": when, "submissionTimestamp": when,
        "subscriptionId": subscription,
    }


def administrative_record(subscription: str, at: datetime, n: int = 0) -> dict:
    """A record of another category (a VM restarted by someone): the backfill must pass it by."""
    return {
        "caller": "someone@example.com", "correlationId": f"ad000000-0000-4000-8000-{n:012d}",
        "eventDataId": f"ad000000-1111-4000-8000-{n:012d}", "description": "",
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "level": "Informational", "operationName": {"value": "Microsoft.Compute/virtualMachines/restart/action",
                                                    "localizedValue": "Restart Virtual Machine"},
        "properties": {"statusCode": "OK"}, "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "eventTimestamp": _iso(at), "submissionTimestamp": _iso(at), "subscriptionId": subscription,
    }


def planned_maintenance(subscription: str, tracking_id: str, updated: datetime, *, start: datetime, end: datetime,
                        status: str = "Active", event_type: str = "PlannedMaintenance",
                        region: str = "Japan East", service: str = "Virtual Machines") -> dict:
    """A Resource Health event (Event, as Events_ListBySubscriptionId returns it)."""
    return {
        "id": f"/subscriptions/{subscription}/providers/Microsoft.ResourceHealth/events/{tracking_id}",
        "name": tracking_id, "type": "Microsoft.ResourceHealth/events",
        "properties": {
            "eventType": event_type, "eventSource": "ServiceHealth", "status": status,
            "title": f"Planned maintenance: {service} - {region}", "summary": "<p>Reboot-required host update.</p>",
            "description": "<p>Azure will apply a <strong>reboot-required</strong> host update.</p>",
            "level": "Warning", "eventLevel": "Informational", "isHIR": False, "platformInitiated": True,
            "impactStartTime": _iso(start), "impactMitigationTime": _iso(end), "lastUpdateTime": _iso(updated),
            "impact": [{"impactedService": service, "impactedRegions": [
                {"impactedRegion": region, "status": status, "impactedSubscriptions": [subscription],
                 "lastUpdateTime": _iso(updated)}]}],
        },
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
