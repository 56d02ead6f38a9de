"""Run the ARM emulator in a process of its own (the benchmark does, so it has a CPU to itself).

    python -m tests.emulator --vms 10000 --subscriptions 20 --latency 0.02

Prints one JSON line — {"url", "ca", "tenant", "client_id", "client_secret", "subscriptions",
"tracking_id", "maintenance_id"} — then serves until its standard input closes. GET /_emulator/stats tells
what happened.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tests.emulator.estate import Estate
from tests.emulator.server import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000, help="impacted VMs (default 1000)")
    parser.add_argument("--subscriptions", type=int, default=2, help="subscriptions they are spread over (default 2)")
    parser.add_argument("--scale-sets", type=int, default=0, help="uniform scale sets with impacted VMs (default 0)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer (default 0)")
    parser.add_argument("--recorded", type=float, default=1.0,
                        help="share of the impacted VMs with a maintenance record, 0 to 1 (default 1: all)")
    args = parser.parse_args()
    estate = Estate(args.vms, args.subscriptions, scale_sets=args.scale_sets, recorded=args.recorded)
    asyncio.run(_serve(ArmEmulator(estate, latency=args.latency)))


async def _serve(emulator: ArmEmulator) -> None:
    await emulator.start()
    print(json.dumps({"url": emulator.url, "ca": str(emulator.tls.bundle), "tenant": TENANT_ID, "client_id": CLIENT_ID,
                      "client_secret": CLIENT_SECRET, "subscriptions": emulator.estate.subscriptions,
                      "tracking_id": emulator.estate.tracking_id,
                      "maintenance_id": emulator.estate.maintenance_id}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
    await emulator.stop()


if __name__ == "__main__":
    main()
