"""How long one alert takes through the relay, and how big its messages get, as the VM count grows.

For each size it builds a synthetic inventory of N impacted VMs in mixed maintenance states, then
times: parsing the example planned-maintenance alert, enrichment (lookup, state, urgency order),
rendering for Teams, Slack and email, and the whole pipeline into a temporary outbox (SQLite ledger
included). It prints one line per size and, last, one JSON object with every figure.

    python bench/pipeline.py                 # sizes 20, 1000, 10000
    python bench/pipeline.py --sizes 50000 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.alerts import parse_alert  # noqa: E402
from relay.config import default_config  # noqa: E402
from relay.enrich import enrich  # noqa: E402
from relay.enrich.inventory import Inventory  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.model import Notification, Receiver  # noqa: E402
from relay.pipeline import process  # noqa: E402
from relay.render import render  # noqa: E402

NOW = datetime(2027, 1, 12, tzinfo=UTC)
SUB = "11111111-2222-3333-4444-555555555555"
ALERT = (ROOT / "examples" / "alerts" / "01-planned.json").read_bytes()
RESULTS = ("None", "None", "None", "MaintenanceCompleted", "RetryLater", "MaintenanceAborted")


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def inventory(n: int) -> dict:
    vms = []
    for i in range(n):
        vm_id = f"/subscriptions/{SUB}/resourceGroups/rg-{i % 40}/providers/Microsoft.Compute/virtualMachines/vm-{i:06d}"
        deadline = NOW + timedelta(hours=6 + (i * 7) % 700)
        slot = datetime(2027, 2, 12, 15, tzinfo=UTC) + timedelta(days=i % 8)
        vms.append({
            "id": vm_id, "name": f"vm-{i:06d}", "resourceGroup": f"rg-{i % 40}", "subscriptionId": SUB,
            "location": "japaneast", "zones": [] if i % 3 else ["1"], "availabilitySet": None,
            "powerState": "running", "publicIpAllocation": "Dynamic" if i % 5 == 0 else "Static",
            "tags": {"owner": f"team-{i % 12}"},
            "maintenanceRedeployStatus": None if i % 17 == 0 else {
                "isCustomerInitiatedMaintenanceAllowed": i % 4 != 1,
                "preMaintenanceWindowStartTime": "2027-01-06T00:00:00Z",
                "preMaintenanceWindowEndTime": iso(deadline),
                "maintenanceWindowStartTime": iso(slot), "maintenanceWindowEndTime": iso(slot + timedelta(days=1)),
                "lastOperationResultCode": RESULTS[i % len(RESULTS)], "lastOperationMessage": None,
            },
        })
    return {"impacted": {"XY12-3ZQ": [vm["id"] for vm in vms]}, "vms": vms}


def best_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def measure(n: int, repeat: int, workdir: Path) -> dict:
    inventory_file = workdir / f"inventory-{n}.json"
    inventory_file.write_text(json.dumps(inventory(n)))
    source = Inventory.load(inventory_file)
    event = parse_alert(ALERT)
    notification = Notification(enrich(event, source, NOW))
    figures = {
        "vms": n,
        "parse_ms": best_ms(lambda: parse_alert(ALERT), repeat),
        "load_inventory_ms": best_ms(lambda: Inventory.load(inventory_file), repeat),
        "enrich_ms": best_ms(lambda: enrich(event, source, NOW), repeat),
    }
    for channel in ("teams", "slack", "email"):
        receiver = Receiver(name=channel, channel=channel)
        figures[f"render_{channel}_ms"] = best_ms(lambda receiver=receiver: render(notification, receiver), repeat)
        message = render(notification, receiver)
        figures[f"{channel}_bytes"] = len(message.body)
        if channel == "slack":
            figures["slack_blocks"] = len(json.loads(message.body)["blocks"])

    def whole() -> None:
        run = workdir / f"run-{n}-{time.perf_counter_ns()}"
        relay = open_relay(default_config(), Paths(inventory_file, run / "ledger.sqlite", run / "outbox"), now=NOW)
        outcome = process(ALERT, relay)
        relay.ledger.close()
        assert outcome.ok, outcome

    figures["pipeline_ms"] = best_ms(whole, repeat)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 1000, 10000], help="VM counts (default 20 1000 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best is kept (default 5)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("pipeline", args.write_results):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                row = measure(n, args.repeat, Path(tmp))
                rows.append(row)
                print(f"{n:>7} VMs: parse {row['parse_ms']:.2f} ms · enrich {row['enrich_ms']:.1f} ms · render teams "
                      f"{row['render_teams_ms']:.1f} / slack {row['render_slack_ms']:.1f} / email {row['render_email_ms']:.1f} ms"
                      f" · whole pipeline {row['pipeline_ms']:.1f} ms · teams {row['teams_bytes']:,} B, slack "
                      f"{row['slack_blocks']} blocks / {row['slack_bytes']:,} B, email {row['email_bytes']:,} B", flush=True)
        first, last = rows[0], rows[-1]
        ratio = last["pipeline_ms"] / first["pipeline_ms"] if first["pipeline_ms"] else None
        print(f"pipeline time grows {ratio:.1f}x for {last['vms'] / first['vms']:.0f}x the VMs; "
              f"largest Teams envelope {max(r['teams_bytes'] for r in rows):,} B of a 24,576 B budget")
        print(json.dumps({"sizes": rows, "pipeline_growth_ratio": ratio,
                          "teams_budget_bytes": 24576, "slack_block_budget": 50}))


if __name__ == "__main__":
    main()
