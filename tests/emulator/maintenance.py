"""performMaintenance in the emulator: long-running operations, their outcome, and what ran at once.

A start answers 202 with Azure-AsyncOperation and Location; the operation is InProgress for `seconds`,
then Succeeded (the VM's maintenanceRedeployStatus becomes MaintenanceCompleted) or Failed with an
Azure-style error: OperationNotAllowed for a VM not eligible (isCustomerInitiatedMaintenanceAllowed
false, or not in a wave), or the failure a test injected for it (lastOperationResultCode RetryLater).
`overlapping()` tells which maintained VMs were in progress at the same time.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.emulator.estate import EstateVm


@dataclass
class Operation:
    id: str
    vm: EstateVm
    start: float
    end: float
    error: dict | None  # {"code", "message"} when it fails
    applied: bool = False

    def status(self, now: float) -> dict:
        if now < self.end:
            return {"name": self.id, "status": "InProgress"}
        if self.error:
            return {"name": self.id, "status": "Failed", "error": self.error}
        return {"name": self.id, "status": "Succeeded"}


class Maintenance:
    def __init__(self, seconds: float = 0.3):
        self.seconds = seconds
        self.failures: dict[str, dict] = {}  # VM name (lower case): the error its operation ends with
        self.operations: dict[str, Operation] = {}

    def fail(self, name: str, message: str, code: str = "OperationNotAllowed") -> None:
        self.failures[name.lower()] = {"code": code, "message": message}

    def start(self, vm: EstateVm, now: float) -> Operation:
        allowed = bool(vm.redeploy and vm.redeploy.get("isCustomerInitiatedMaintenanceAllowed"))
        error = self.failures.get(vm.name.lower())
        if not allowed:
            error = {"code": "OperationNotAllowed",
                     "message": f"Customer initiated maintenance is not allowed for VM '{vm.name}' at this time."}
        operation = Operation(str(uuid.uuid4()), vm, now, now + self.seconds, error)
        self.operations[operation.id] = operation
        return operation

    def status(self, operation_id: str, now: float) -> dict | None:
        operation = self.operations.get(operation_id)
        if operation is None:
            return None
        if now >= operation.end and not operation.applied:
            operation.applied = True
            if operation.vm.redeploy is not None and operation.vm.redeploy.get("isCustomerInitiatedMaintenanceAllowed"):
                result = "RetryLater" if operation.error else "MaintenanceCompleted"
                operation.vm.redeploy = {**operation.vm.redeploy, "lastOperationResultCode": result,
                                         "isCustomerInitiatedMaintenanceAllowed": bool(operation.error)}
        return operation.status(now)

    def started(self) -> list[str]:
        """Names of the VMs maintenance was started on, in order."""
        return [op.vm.name for op in sorted(self.operations.values(), key=lambda op: op.start)]

    def overlapping(self) -> list[tuple[EstateVm, EstateVm]]:
        """Pairs of VMs whose operations were in progress at the same time."""
        ops = sorted(self.operations.values(), key=lambda op: op.start)
        return [(a.vm, b.vm) for i, a in enumerate(ops) for b in ops[i + 1:] if b.start < a.end]
