"""What a VM's maintenanceRedeployStatus means right now, and what to watch on it.

The states are the portal's "Maintenance status" column, as Microsoft Learn describes them in "Handling
planned maintenance notifications using the portal": Start now (inside the self-service window, you can
start it yourself), Scheduled (no option to start it yourself), Already updated, Retry later (you started
it with no success and can use self-service at a later time), Retry now (you can retry a previously
unsuccessful self-started maintenance), "-" (not part of a wave). Microsoft states no mapping from the
fields to the column; this one rests on what the fields are documented to mean:
- `isCustomerInitiatedMaintenanceAllowed` "indicates whether you can start maintenance on the VM at this
  time" ("Handling planned maintenance using PowerShell"; the Azure CLI page starts maintenance only
  when it is true), so it alone tells Retry now from Retry later after an unsuccessful attempt;
- `lastOperationResultCode` is "the result of the last attempt to initiate maintenance on the VM", one of
  None, RetryLater, MaintenanceAborted, MaintenanceCompleted (Compute REST reference, MaintenanceRedeployStatus):
  RetryLater and MaintenanceAborted are the unsuccessful attempts, MaintenanceCompleted is Already updated;
- `preMaintenanceWindow*` is the self-service window, `maintenanceWindow*` the scheduled one.
A maintenance record (azure/records.py) is read into the same fields, and its status words for the last result
(RetryNow, RetryLater, Completed) count as the instance view's do.
Stopping (deallocating) a VM can revert its maintenance status, and once started again it may be on a
host outside the wave ("Handling planned maintenance notifications", FAQ): while a VM is deallocated its
status tells nothing reliable, so its state is unknown whatever the status says.
"""
from __future__ import annotations

from datetime import datetime

from relay.enrich.arm_ids import id_key
from relay.model import AffectedVm, MaintenanceState, RedeployStatus, Risk, Vm

# The last result as the instance view words it (lastOperationResultCode) or a maintenance record does (its status).
_COMPLETED = ("maintenancecompleted", "completed")
_UNSUCCESSFUL = ("retrylater", "maintenanceaborted", "retrynow")  # an attempt to start it that did not succeed


def state_of(redeploy: RedeployStatus | None, now: datetime) -> MaintenanceState:
    """The state of a running VM with this maintenanceRedeployStatus (None: not in a wave)."""
    if redeploy is None:
        return MaintenanceState.NONE
    result = (redeploy.last_result or "").lower()
    if result in _COMPLETED:
        return MaintenanceState.ALREADY_UPDATED
    if redeploy.self_service.contains(now):
        return _in_self_service(result in _UNSUCCESSFUL, redeploy.customer_initiated_allowed)
    if redeploy.scheduled.end is not None and redeploy.scheduled.end <= now:
        return MaintenanceState.NONE  # the wave is over and Azure has not reported a result yet
    return MaintenanceState.SCHEDULED  # outside the self-service window only Azure can do it


def _in_self_service(failed: bool, allowed: bool) -> MaintenanceState:
    """Inside the self-service window, `isCustomerInitiatedMaintenanceAllowed` says whether it can be started now."""
    if failed:
        return MaintenanceState.RETRY_NOW if allowed else MaintenanceState.RETRY_LATER
    return MaintenanceState.START_NOW if allowed else MaintenanceState.SCHEDULED


def is_deallocated(power_state: str) -> bool:
    """"deallocated", "stopped-deallocated", "PowerState/deallocated"; not "deallocating" (still on its host)."""
    return "deallocated" in power_state.lower()


def vm_state(vm: Vm, now: datetime) -> MaintenanceState:
    if is_deallocated(vm.power_state):
        return MaintenanceState.UNKNOWN
    return state_of(vm.redeploy, now)


def risks_of(vm: Vm) -> tuple[Risk, ...]:
    risks = []
    if not vm.zones and not vm.availability_set:
        risks.append(Risk.SINGLE_INSTANCE)
    if vm.others_in_set_deallocated and not is_deallocated(vm.power_state):
        risks.append(Risk.ISOLATED)
    if (vm.public_ip_allocation or "").lower() == "dynamic":
        risks.append(Risk.DYNAMIC_PUBLIC_IP)
    if is_deallocated(vm.power_state):
        risks.append(Risk.DEALLOCATED)
    return tuple(risks)


def others_deallocated(vm_id: str, members: dict[str, str]) -> bool:
    """Whether the VM's availability set, whose VMs are `members` (id key → power state, the VM's own
    entry included or not), has other VMs and every one of them is deallocated."""
    others = [power for key, power in members.items() if key != id_key(vm_id)]
    return bool(others) and all(is_deallocated(power) for power in others)


def assess(vm: Vm, now: datetime) -> AffectedVm:
    return AffectedVm(vm=vm, state=vm_state(vm, now), risks=risks_of(vm))


# The states as the messages group them. MaintenanceState is a StrEnum: its values (what views carry) are members.
CAN_START = frozenset({MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW})  # someone can start it now
# Azure reboots it unless it is done first. Not UNKNOWN: a deallocated VM runs on no host, so Azure reboots nothing
# of it; it may be maintained when it next starts.
TO_REBOOT = CAN_START | {MaintenanceState.SCHEDULED, MaintenanceState.RETRY_LATER}
RETRYING = frozenset({MaintenanceState.RETRY_NOW, MaintenanceState.RETRY_LATER})  # a self-service attempt failed

_STATE_ORDER = {
    MaintenanceState.START_NOW: 0,
    MaintenanceState.RETRY_NOW: 1,
    MaintenanceState.SCHEDULED: 2,
    MaintenanceState.RETRY_LATER: 3,
    MaintenanceState.UNKNOWN: 4,
    MaintenanceState.NONE: 5,
    MaintenanceState.ALREADY_UPDATED: 6,
}


def urgency(affected: AffectedVm) -> tuple:
    """Sort key, most urgent first: the nearest self-service deadline, then the nearest forced reboot."""
    redeploy = affected.vm.redeploy
    deadline = affected.self_service_deadline
    scheduled = redeploy.scheduled.start if redeploy else None
    first = deadline or scheduled
    return (
        _STATE_ORDER[affected.state],
        first is None,
        first.timestamp() if first else 0.0,
        affected.vm.name.lower(),
    )


def by_urgency(vms: list[AffectedVm] | tuple[AffectedVm, ...]) -> tuple[AffectedVm, ...]:
    return tuple(sorted(vms, key=urgency))


def count_by_state(vms: tuple[AffectedVm, ...]) -> dict[MaintenanceState, int]:
    counts = {state: 0 for state in _STATE_ORDER}
    for affected in vms:
        counts[affected.state] += 1
    return {state: n for state, n in counts.items() if n}
