"""The embedded VM source: one JSON file, shaped like what the Azure adapter reads from ARM.

    {"impacted": {"<trackingId>": ["<vm id>", ...]},
     "vms": [{"id", "name", "resourceGroup", "subscriptionId", "location", "zones", "availabilitySet",
              "powerState", "publicIpAllocation", "tags", "maintenanceRedeployStatus": {...} | null}]}

Only "vms" and each VM's "id" and "name" are required; extra keys are ignored. Every problem found is
reported at once, with its JSON path.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.enrich import (
    BY_IMPACTED_LIST,
    BY_RESOURCE,
    BY_SUBSCRIPTION_AND_REGION,
    FROM_INVENTORY,
    NO_LOOKUP,
    VmLookup,
    concerns_vms,
)
from relay.enrich.arm_ids import id_key, parse_vm_id, vm_from_id
from relay.enrich.state import others_deallocated
from relay.model import Event, EventKind, RedeployStatus, Vm, Window, unshowable


class InventoryError(ValueError):
    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"inventory {source} is invalid:\n  " + "\n  ".join(problems))


class Inventory:
    """VMs and, per maintenance trackingId, the ids Azure lists as impacted."""

    def __init__(self, vms: list[Vm], impacted: dict[str, list[str]], source: str = "inventory"):
        vms = _with_set_members(vms)
        self.vms = tuple(vms)
        self.source = source
        self._by_id = {id_key(vm.id): vm for vm in vms}
        self._impacted = {tracking_id.upper(): ids for tracking_id, ids in impacted.items()}

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InventoryError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from exc
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise InventoryError(str(path), [f"$: not JSON: {exc.msg} ({where})"]) from exc
        except UnicodeDecodeError as exc:
            raise InventoryError(str(path), ["$: not UTF-8 text"]) from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "inventory") -> Inventory:
        if not isinstance(data, dict):
            raise InventoryError(source, ["$: expected an object"])
        problems: list[str] = []
        vms = _vms(data.get("vms"), problems)
        impacted = _impacted(data.get("impacted"), problems)
        if problems:
            raise InventoryError(source, problems)
        return cls(vms, impacted, source)

    def affected_vms(self, event: Event) -> VmLookup:
        if event.kind is EventKind.MAINTENANCE:
            listed = self._impacted.get((event.tracking_id or "").upper())
            if listed is not None:
                return VmLookup([vm for vm_id in listed if (vm := self._vm(vm_id))], BY_IMPACTED_LIST)
            if not concerns_vms(event):
                return VmLookup([], NO_LOOKUP)
            return VmLookup(self._in_wave(event), BY_SUBSCRIPTION_AND_REGION)
        if event.kind is EventKind.RESOURCE_HEALTH and event.resource is not None:
            vm = self._by_id.get(id_key(event.resource.resource_id)) or vm_from_id(event.resource.resource_id)
            return VmLookup([vm] if vm else [], BY_RESOURCE)
        return VmLookup([], NO_LOOKUP)

    def _vm(self, vm_id: str) -> Vm | None:
        return self._by_id.get(id_key(vm_id)) or vm_from_id(vm_id)

    def _in_wave(self, event: Event) -> list[Vm]:
        """VMs with a maintenanceRedeployStatus in the event's regions (and subscriptions, if it names any)."""
        regions = {_region_key(region) for region in event.regions}
        subscriptions = {sub.lower() for sub in event.subscription_ids}
        return [
            vm
            for vm in self.vms
            if vm.redeploy is not None
            and _region_key(vm.location) in regions
            and (not subscriptions or vm.subscription_id.lower() in subscriptions)
        ]


def _with_set_members(vms: list[Vm]) -> list[Vm]:
    """The VMs, each marked with whether the other VMs of its availability set are all deallocated."""
    members: dict[tuple[str, str, str], dict[str, str]] = {}
    for vm in vms:
        if (key := _set_key(vm)) is not None:
            members.setdefault(key, {})[id_key(vm.id)] = vm.power_state
    return [vm if (key := _set_key(vm)) is None else
            replace(vm, others_in_set_deallocated=others_deallocated(vm.id, members[key])) for vm in vms]


def _set_key(vm: Vm) -> tuple[str, str, str] | None:
    """A VM's availability set: named in the file, and always in the VM's own resource group."""
    if not vm.availability_set:
        return None
    return vm.subscription_id.lower(), vm.resource_group.lower(), vm.availability_set.lower()


def _region_key(region: str) -> str:
    """The form regions compare in: "Japan East" and "japaneast" alike."""
    return region.replace(" ", "").lower()


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_]\w*", key) else f"{path}[{json.dumps(key)}]"


def _vms(raw: Any, problems: list[str]) -> list[Vm]:
    if raw is None:
        problems.append("$.vms: missing")
        return []
    if not isinstance(raw, list):
        problems.append("$.vms: expected a list")
        return []
    vms: list[Vm] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = f"$.vms[{index}]"
        vm = _vm(item, path, problems)
        if vm is None:
            continue
        first = seen.setdefault(id_key(vm.id), path)
        if first != path:
            problems.append(f"{path}.id: the same VM as {first}")
            continue
        vms.append(vm)
    return vms


def _vm(raw: Any, path: str, problems: list[str]) -> Vm | None:
    if not isinstance(raw, dict):
        problems.append(f"{path}: expected an object")
        return None
    known = len(problems)
    fields = _Fields(raw, path, problems)
    vm_id, name = fields.text("id", required=True), fields.text("name", required=True)
    parsed = parse_vm_id(vm_id) if vm_id else None
    if vm_id and parsed is None:
        problems.append(f"{path}.id: not a virtual machine id: {vm_id!r}")
    vm = Vm(
        id=vm_id or "",
        name=name or "",
        resource_group=fields.text("resourceGroup") or (parsed.resource_group if parsed else ""),
        subscription_id=fields.text("subscriptionId") or (parsed.subscription_id if parsed else ""),
        location=fields.text("location") or "",
        zones=fields.zones("zones"),
        availability_set=fields.text("availabilitySet"),
        power_state=(fields.text("powerState") or "unknown").lower(),
        public_ip_allocation=fields.text("publicIpAllocation"),
        tags=fields.tags("tags"),
        redeploy=_redeploy(raw.get("maintenanceRedeployStatus"), _child(path, "maintenanceRedeployStatus"), problems),
        state_source=FROM_INVENTORY,
    )
    return vm if len(problems) == known else None


def redeploy_status(raw: Any) -> RedeployStatus | None:
    """maintenanceRedeployStatus as Azure writes it in an instance view (and this file holds it);
    None when absent or unreadable."""
    problems: list[str] = []
    status = _redeploy(raw, "maintenanceRedeployStatus", problems)
    return None if problems else status


def _redeploy(raw: Any, path: str, problems: list[str]) -> RedeployStatus | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{path}: expected an object or null")
        return None
    fields = _Fields(raw, path, problems)
    return RedeployStatus(
        customer_initiated_allowed=fields.flag("isCustomerInitiatedMaintenanceAllowed"),
        self_service=Window(fields.time("preMaintenanceWindowStartTime"), fields.time("preMaintenanceWindowEndTime")),
        scheduled=Window(fields.time("maintenanceWindowStartTime"), fields.time("maintenanceWindowEndTime")),
        last_result=fields.text("lastOperationResultCode"),
        last_message=fields.text("lastOperationMessage"),
    )


def _impacted(raw: Any, problems: list[str]) -> dict[str, list[str]]:
    """trackingId (upper-cased) → VM ids, each VM once, in the order first listed."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("$.impacted: expected an object of trackingId → list of VM ids")
        return {}
    impacted: dict[str, dict[str, str]] = {}
    for tracking_id, ids in raw.items():
        path = _child("$.impacted", tracking_id)
        if not isinstance(ids, list):
            problems.append(f"{path}: expected a list of VM ids")
            continue
        listed = impacted.setdefault(tracking_id.upper(), {})
        for index, vm_id in enumerate(ids):
            if not isinstance(vm_id, str) or parse_vm_id(vm_id) is None:
                problems.append(f"{path}[{index}]: not a virtual machine id: {vm_id!r}")
                continue
            listed.setdefault(id_key(vm_id), vm_id.strip())
    return {tracking_id: list(listed.values()) for tracking_id, listed in impacted.items()}


class _Fields:
    """Typed reads of one JSON object; each bad value adds a problem at its path and reads as absent."""

    def __init__(self, raw: dict, path: str, problems: list[str]):
        self._raw, self._path, self._problems = raw, path, problems

    def _bad(self, key: str, what: str) -> None:
        self._problems.append(f"{_child(self._path, key)}: {what}")

    def text(self, key: str, required: bool = False) -> str | None:
        value = self._raw.get(key)
        if value is None or value == "":
            if required:
                self._bad(key, "missing")
            return None
        if not isinstance(value, str):
            self._bad(key, f"expected a string, got {value!r}")
            return None
        return value

    def flag(self, key: str) -> bool:
        value = self._raw.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self._bad(key, f"expected true or false, got {value!r}")
        return False

    def time(self, key: str) -> datetime | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(value.strip())
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        except (ValueError, OverflowError):
            self._bad(key, f"not an ISO 8601 time: {value!r}")
            return None
        if why := unshowable(when):
            self._bad(key, f"{why}: {value!r}")
            return None
        return when

    def zones(self, key: str) -> tuple[str, ...]:
        value = self._raw.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(type(zone) in (str, int) for zone in value):
            self._bad(key, f"expected a list of zone numbers, got {value!r}")
            return ()
        return tuple(str(zone) for zone in value)

    def tags(self, key: str) -> dict[str, str]:
        value = self._raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._bad(key, f"expected an object, got {value!r}")
            return {}
        return {str(name): "" if tag is None else str(tag) for name, tag in value.items()}
