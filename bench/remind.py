"""One reminder pass over 500 open maintenance events and 10,000 VMs on the inventory source (goal: well inside
the Function's 15-minute timer, under 10 s).

It fills a SQLite ledger as the pipeline leaves it: --events Planned notices, each relayed to --teams teams (the
routing tree sends each team its own VMs by the `owner` tag, as examples/relay.yaml does), with --vms VMs spread
over them in every state. Each event's self-service deadline is 20 hours away and its reboot window 3 days away,
so one pass finds a 1-day deadline reminder due for every team with a VM still to start: the busiest pass there
is. Each team writes to an outbox folder (real files). Three passes are timed:

    due       the one that renders and sends every due reminder (and marks each in the ledger)
    again     at the same moment, run again: everything was sent, nothing goes twice
    quiet     five days earlier, when nothing is due: what most passes are

For each: wall time, events read, reminders sent, the VM source's lookups and the ledger's calls by kind, then
the ratio to the goal. The last line printed is one JSON object with every figure.

    python bench/remind.py
    python bench/remind.py --events 1000 --vms 20000 --teams 8
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.config import parse_config  # noqa: E402
from relay.enrich.inventory import Inventory  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.model import Event, EventKind, Window  # noqa: E402
from relay.pipeline import process_event  # noqa: E402
from relay.remind.send import remind  # noqa: E402

NOW = datetime(2027, 6, 1, 3, tzinfo=UTC)  # Tuesday 12:00 JST: nobody's quiet hours
GOAL_SECONDS = 10.0
SUB = "0a1b2c3d-1111-2222-3333-444455556666"
# Of every ten VMs: 4 Start now, 3 Scheduled (not startable), 2 Already updated, 1 Retry now.
STATES = ("start", "start", "start", "start", "scheduled", "scheduled", "scheduled", "done", "done", "retry")


class Counting:
    """The ledger or VM source, each call counted by method."""

    def __init__(self, inner, calls: Counter):
        self._inner, self._calls = inner, calls

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self._calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def tracking(n: int) -> str:
    return f"BENCH-{n:04d}"


def inventory(events: int, vms: int, teams: int) -> Inventory:
    deadline, reboot = NOW + timedelta(hours=20), NOW + timedelta(days=3)
    written, impacted = [], {}
    for i in range(vms):  # each event a run of VMs, every team and state in each
        state = STATES[i * 7 % len(STATES)]
        vm_id = f"/subscriptions/{SUB}/resourceGroups/rg-{i % 37}/providers/Microsoft.Compute/virtualMachines/vm-{i:05d}"
        written.append({
            "id": vm_id, "name": f"vm-{i:05d}", "resourceGroup": f"rg-{i % 37}", "subscriptionId": SUB,
            "location": "japaneast", "zones": ["1"], "powerState": "running", "tags": {"owner": f"team-{i % teams}"},
            "maintenanceRedeployStatus": {
                "isCustomerInitiatedMaintenanceAllowed": state in ("start", "retry", "done"),
                "preMaintenanceWindowStartTime": (NOW - timedelta(days=30)).isoformat(),
                "preMaintenanceWindowEndTime": deadline.isoformat(),
                "maintenanceWindowStartTime": reboot.isoformat(),
                "maintenanceWindowEndTime": (reboot + timedelta(hours=12)).isoformat(),
                "lastOperationResultCode": {"done": "MaintenanceCompleted", "retry": "MaintenanceAborted"}.get(state, "None"),
            },
        })
        impacted.setdefault(tracking(i * events // vms), []).append(vm_id)
    return Inventory.from_dict({"impacted": impacted, "vms": written})


def planned(n: int) -> Event:
    return Event(kind=EventKind.MAINTENANCE, schema="common", title=f"Planned maintenance {n}", communication="",
                 tracking_id=tracking(n), communication_id="1", stage="Planned", level="Informational",
                 status="Active", services=("Virtual Machines",), regions=("Japan East",), subscription_ids=(SUB,),
                 window=Window(NOW - timedelta(days=30), NOW + timedelta(days=4)), event_time=NOW - timedelta(days=10))


def config(teams: int):
    names = [f"team-{t}" for t in range(teams)]
    return parse_config({
        "receivers": [{"name": name, "channel": "outbox", "format": "slack", "language": "both"} for name in names],
        "route": {"receiver": names[0], "routes": [{"receiver": n, "match": {"tag": {"owner": n}}} for n in names]},
    })


def timed(relay, settings, receivers, at: datetime, name: str, calls: Counter, lookups: Counter) -> dict:
    calls.clear()
    lookups.clear()
    started = time.perf_counter()
    done = remind(relay, settings, receivers, now=at)
    seconds = time.perf_counter() - started
    sent = sum(1 for d in done if d.status == "sent")
    failed = [d for d in done if d.status not in ("sent",)]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} not sent, the first: {failed[0]}")
    print(f"{name:<6} {seconds:7.2f} s  {sent:5d} reminders sent  {lookups['affected_vms']:4d} VM lookups  "
          f"{sum(calls.values()):6d} ledger calls ({', '.join(f'{k} {v}' for k, v in calls.most_common())})")
    return {"seconds": round(seconds, 3), "sent": sent, "vm_lookups": lookups["affected_vms"],
            "ledger_calls": dict(calls), "goal_ratio": round(seconds / GOAL_SECONDS, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500, help="open maintenance events (default 500)")
    parser.add_argument("--vms", type=int, default=10_000, help="VMs over them (default 10,000)")
    parser.add_argument("--teams", type=int, default=4, help="teams, each a receiver of its own VMs (default 4)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("remind", args.write_results), tempfile.TemporaryDirectory() as folder:
        cfg = config(args.teams)
        relay = open_relay(cfg, Paths(ledger=Path(folder) / "ledger.sqlite", outbox=Path(folder) / "outbox"))
        relay.vms = inventory(args.events, args.vms, args.teams)
        relay.clock = lambda: NOW - timedelta(days=10)
        started = time.perf_counter()
        for n in range(args.events):
            assert process_event(planned(n), relay).ok
        print(f"{args.events:,} events, {args.vms:,} VMs, {args.teams} teams: the Planned notices relayed in "
              f"{time.perf_counter() - started:.1f} s (not timed below)")
        calls, lookups = Counter(), Counter()
        relay.ledger = Counting(relay.ledger, calls)
        relay.vms = Counting(relay.vms, lookups)
        receivers = cfg.receivers()
        figures = {name: timed(relay, cfg.reminders, receivers, at, name, calls, lookups)
                   for name, at in (("due", NOW), ("again", NOW), ("quiet", NOW - timedelta(days=5)))}
        written = sum(1 for _ in (Path(folder) / "outbox").glob("*/*reminder*"))
        print(f"reminder files in the outbox: {written:,}; the busiest pass is {figures['due']['goal_ratio']:.2f}x"
              f" the {GOAL_SECONDS:.0f} s goal, a pass with nothing due {figures['quiet']['goal_ratio']:.3f}x")
        print(json.dumps({"events": args.events, "vms": args.vms, "teams": args.teams, "goal_seconds": GOAL_SECONDS,
                          "reminder_files": written, **figures}))


if __name__ == "__main__":
    main()
