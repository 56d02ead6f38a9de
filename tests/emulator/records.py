"""Maintenance records in the emulator: the table `maintenanceresources`, and the relay's query of it.

A VM's record is written from its instance view (EstateVm.redeploy) when asked, in the shape Microsoft's
"Azure Resource Graph sample queries for Impacted resources" read: type microsoft.maintenance/updates, named
by the VM's id, its updates in `properties.value` with the fields of the Maintenance RP's `Update` model
(maintenanceScope, impactType, impactDurationInSec, status, notBefore) and those of the samples
(notificationId, endTimeUtc, properties.plannedMaintenanceId and plannedMaintenanceStatus). The query's rows
are what Resource Graph would send for it: one per Host update whose notificationId or plannedMaintenanceId
is the one the query names (compared as =~ does), ordered by id.
"""
from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator.estate import EstateVm

_QUERY = ("maintenanceresources", "where type =~ 'microsoft.maintenance/updates'", "mv-expand entry = properties.value",
          "where tostring(entry.maintenancescope) =~ 'host'", "project id, targetid = tolower(name)",
          "coalesce(tostring(entry.status), tostring(entry.properties.plannedmaintenancestatus))", "order by id asc")
_NOTIFICATION = re.compile(r"tostring\(entry\.notificationid\) =~ '([^']*)'")
_PLANNED_MAINTENANCE = re.compile(r"tostring\(entry\.properties\.plannedmaintenanceid\) =~ '([^']*)'")
_ELSEWHEN = "2026-03-01T00:00:00Z"  # the times of another maintenance's update


def is_query(text: str) -> bool:
    """Whether a query (lower case, blanks folded) is the relay's query of the records."""
    return all(part in text for part in _QUERY)


def share(vm_id: str) -> float:
    """A number in [0, 1) of the VM's id, spread evenly and unrelated to its state and to the order of the
    impacted resources (named by another hash of the id)."""
    return int(hashlib.sha1(f"record {vm_id.lower()}".encode()).hexdigest()[:8], 16) / 16**8


def record(vm: EstateVm, tracking_id: str, maintenance_id: str) -> dict:
    """The VM's record: its Host update of this maintenance and, for one VM in three, before it an update of
    something else. For one VM in five, the update names the maintenance as query 2 reads it only
    (plannedMaintenanceId and plannedMaintenanceStatus, no notificationId or status)."""
    share_of = share(vm.id)
    status = _status(vm.redeploy)
    update: dict = {"maintenanceScope": "Host", "impactType": "Redeploy", "impactDurationInSec": 1800,
                    "properties": {"resourceId": vm.id, "plannedMaintenanceId": maintenance_id,
                                   "plannedMaintenanceStatus": status}}
    if share_of * 5 % 1 >= 0.2:
        update |= {"notificationId": tracking_id, "status": status}
    if vm.redeploy is not None:
        update |= {"notBefore": vm.redeploy["maintenanceWindowStartTime"],
                   "endTimeUtc": vm.redeploy["maintenanceWindowEndTime"]}
    update = {k: v for k, v in (update | vm.record_update).items() if v is not None}
    updates = [update]
    if share_of * 3 % 1 < 0.34:
        updates.insert(0, {"maintenanceScope": "InGuestPatch", "impactType": "Restart", "status": "Pending",
                           "notificationId": "ZZ99-000", "notBefore": _ELSEWHEN, "endTimeUtc": _ELSEWHEN,
                           "properties": {"resourceId": vm.id}})
    return {"id": f"{vm.id}/providers/Microsoft.Maintenance/updates/default", "name": vm.impacted_as or vm.id,
            "type": "microsoft.maintenance/updates", "subscriptionId": vm.subscription,
            "resourceGroup": vm.resource_group.lower(), "location": vm.location, "properties": {"value": updates}}


def _status(redeploy: dict | None) -> str:
    """The Maintenance RP's status of a VM whose instance view says `redeploy`."""
    if redeploy is None:
        return "NoUpdatesPending"
    result = redeploy.get("lastOperationResultCode")
    if result == "MaintenanceCompleted":
        return "Completed"
    if result in ("RetryLater", "MaintenanceAborted"):
        return "RetryNow" if redeploy.get("isCustomerInitiatedMaintenanceAllowed") else "RetryLater"
    return "Pending"


def rows(records: list[dict], text: str) -> list[dict]:
    """The query's rows (id, targetId, status, notBefore, endTimeUtc) of these records."""
    notification, planned = _NOTIFICATION.search(text), _PLANNED_MAINTENANCE.search(text)
    found = []
    for held in records:
        for entry in held["properties"]["value"]:
            extra = entry.get("properties") or {}
            if str(entry.get("maintenanceScope")).lower() != "host" or not (
                    (notification and str(entry.get("notificationId", "")).lower() == notification.group(1))
                    or (planned and str(extra.get("plannedMaintenanceId", "")).lower() == planned.group(1))):
                continue
            found.append({"id": held["id"], "targetId": held["name"].lower(),
                          "status": entry.get("status") or extra.get("plannedMaintenanceStatus") or "",
                          "notBefore": entry.get("notBefore", ""), "endTimeUtc": entry.get("endTimeUtc", "")})
    return sorted(found, key=lambda row: row["id"].lower())
