"""What the reminder, silence and quiet-hours tests share: VMs as Azure returns them at a moment, a relay on a
ledger and an outbox, and the messages its outbox holds."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from relay.channels import channel_for
from relay.config import Config
from relay.enrich.inventory import Inventory
from relay.pipeline import Relay

SUB = "0a1b2c3d-1111-2222-3333-444455556666"
TRACKING = "XY12-3ZQ"


def vm_id(name: str, group: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"


def inventory(vms: list[dict], self_service: tuple[datetime, datetime], scheduled: tuple[datetime, datetime],
              now: datetime) -> Inventory:
    """Each VM of `vms` (name, team, group; done: when its maintenance completed, None never; startable: whether
    Azure lets it be started) in maintenance XY12-3ZQ, as Azure returns it at `now`."""
    written = [{
        "id": vm_id(vm["name"], vm["group"]), "name": vm["name"], "resourceGroup": vm["group"], "subscriptionId": SUB,
        "location": "japaneast", "zones": vm.get("zones", ["1"]), "powerState": "running",
        "tags": {"owner": vm["team"]},
        "maintenanceRedeployStatus": {
            "isCustomerInitiatedMaintenanceAllowed": vm.get("startable", True),
            "preMaintenanceWindowStartTime": self_service[0].isoformat(),
            "preMaintenanceWindowEndTime": self_service[1].isoformat(),
            "maintenanceWindowStartTime": scheduled[0].isoformat(),
            "maintenanceWindowEndTime": scheduled[1].isoformat(),
            "lastOperationResultCode": "MaintenanceCompleted" if vm.get("done") and vm["done"] <= now else "None",
        },
    } for vm in vms]
    return Inventory.from_dict({"impacted": {TRACKING: [w["id"] for w in written]}, "vms": written})


class Moving:
    """The VM source: the VMs as Azure would return them at the relay's clock."""

    def __init__(self, clock, at):
        self.clock, self.at = clock, at

    def affected_vms(self, event):
        return self.at(self.clock()).affected_vms(event)


def relay_on(ledger, config: Config, outbox: Path, clock: dict, at) -> Relay:
    """A relay on this ledger, writing to the outbox, its clock `clock["now"]`, its VMs `at(now)`."""
    channels = {r.receiver.name: channel_for(r.receiver, outbox, ledger, {}) for r in config.routes}
    relay = Relay(ledger=ledger, vms=None, routes=config.routes, channel_for=lambda r: channels[r.name],
                  urgent=config.urgent, sleep=lambda seconds: None)
    relay.clock = lambda: clock["now"]
    relay.vms = Moving(relay.clock, at)
    return relay


def sent(outbox: Path, receiver: str, what: str = "") -> list[dict]:
    """The messages the receiver's outbox folder holds whose file name holds `what`, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((outbox / receiver).glob(f"*{what}*.json" if what else "*.json"))]


def listed(message: dict, names) -> set[str]:
    """Which of these VM names a Slack message lists (a VM line bolds its name)."""
    text = json.dumps(message, ensure_ascii=False)
    return {name for name in names if f"*{name}*" in text}
