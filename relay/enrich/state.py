"""What a VM's maintenanceRedeployStatus means right now, and what to watch on it.

The mapping to the portal's "Maintenance status" column is not stated by Microsoft; this follows the
portal's descriptions (Start now = you may start it inside the self-service window, Scheduled = Azure
will do it in the scheduled window, Already updated, Retry later, Retry now, blank = not in a wave).
"""
from __future__ import annotations

from datetime import datetime

from relay.model import AffectedVm, MaintenanceState, RedeployStatus, Risk, Vm

_COMPLETED = "maintenancecompleted"
_RETRY_LATER = "retrylater"
_ABORTED = "maintenanceaborted"


def state_of(redeploy: RedeployStatus | None, now: datetime) -> MaintenanceState:
    if redeploy is None:
        return MaintenanceState.NONE
    result = (redeploy.last_result or "").lower()
    if result == _COMPLETED:
        return MaintenanceState.ALREADY_UPDATED
    if result == _RETRY_LATER:
        return MaintenanceState.RETRY_LATER
    open_now = redeploy.customer_initiated_allowed and redeploy.self_service.contains(now)
    if open_now:
        return MaintenanceState.RETRY_NOW if result == _ABORTED else MaintenanceState.START_NOW
    if redeploy.scheduled.end is not None and redeploy.scheduled.end <= now:
        return MaintenanceState.NONE  # the wave is over and Azure has not reported a result yet
    return MaintenanceState.SCHEDULED


def risks_of(vm: Vm) -> tuple[Risk, ...]:
    risks = []
    if not vm.zones and not vm.availability_set:
        risks.append(Risk.SINGLE_INSTANCE)
    if (vm.public_ip_allocation or "").lower() == "dynamic":
        risks.append(Risk.DYNAMIC_PUBLIC_IP)
    if "deallocated" in vm.power_state.lower():
        risks.append(Risk.DEALLOCATED)
    return tuple(risks)


def assess(vm: Vm, now: datetime) -> AffectedVm:
    return AffectedVm(vm=vm, state=state_of(vm.redeploy, now), risks=risks_of(vm))


_STATE_ORDER = {
    MaintenanceState.START_NOW: 0,
    MaintenanceState.RETRY_NOW: 1,
    MaintenanceState.SCHEDULED: 2,
    MaintenanceState.RETRY_LATER: 3,
    MaintenanceState.NONE: 4,
    MaintenanceState.ALREADY_UPDATED: 5,
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
