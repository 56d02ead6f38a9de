"""An emulator of the Azure endpoints the relay calls, for tests and the benchmark.

    estate.py   the generated Azure estate it serves
    records.py  the estate's maintenance records (maintenanceresources) and the relay's query of them
    limits.py   the documented throttles it enforces (and how to scale their time)
    maintenance.py  performMaintenance: long-running operations, outcomes, what ran at once
    server.py   the HTTPS server: Entra token, Resource Graph, Resource Health, Compute, Activity Log
    __main__.py run it in a process of its own: python -m tests.emulator --help
"""
from tests.emulator.estate import Estate
from tests.emulator.limits import Limits
from tests.emulator.maintenance import Maintenance
from tests.emulator.server import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator

__all__ = ["ArmEmulator", "CLIENT_ID", "CLIENT_SECRET", "Estate", "Limits", "Maintenance", "TENANT_ID"]
