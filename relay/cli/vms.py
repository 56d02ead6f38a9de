"""`relay vms TRACKING_ID`: the VMs a maintenance affects, and their state, from Azure."""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, add_now, config_of, fail, subscription_id
from relay.config import AzureSettings


def register(command) -> None:
    p = command("vms", help="list the VMs a maintenance affects, and their state, from Azure",
                description="Asks Azure (Resource Graph, then each VM's instance view) which VMs the maintenance\n"
                "TRACKING_ID affects, and prints them most urgent first: name, resource group, subscription,\n"
                "state (Start now, Scheduled, …), self-service deadline and scheduled window in JST, risks.\n"
                "A progress line on stderr says what it is waiting for.\n\n"
                "Signs in with DefaultAzureCredential: az login, a managed identity, or the environment\n"
                "(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). Needs read access (Reader) to the\n"
                "subscriptions. Exit 0 when Azure told everything, 1 when the list is incomplete (each gap\n"
                "is said on stderr), 2 on bad input.",
                epilog="examples:\n  relay vms XY12-3ZQ --subscription 0a1b2c3d-1111-2222-3333-444455556666\n"
                       "  relay vms XY12-3ZQ --config relay.yaml --format json | jq '.vms[].name'",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tracking_id", metavar="TRACKING_ID", help="the maintenance's trackingId, like XY12-3ZQ")
    p.add_argument("--subscription", action="append", default=[], metavar="ID", type=subscription_id,
                   help="a subscription to search (repeat for more); besides the config's azure.subscriptions;"
                        " with none anywhere, every subscription the identity can read")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="default: table")
    p.add_argument("--config", type=Path, help="YAML config: its azure: section (time budget, endpoints, subscriptions)")
    add_now(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.cli import vm_table
    from relay.enrich.azure.graph import TRACKING_ID

    if not TRACKING_ID.match(args.tracking_id):
        return fail(f"not a trackingId: {args.tracking_id!r} (like XY12-3ZQ)")
    config = config_of(args)
    progress = vm_table.Progress()
    found, gaps = vm_table.lookup(args.tracking_id, config.azure or AzureSettings(), tuple(args.subscription),
                             args.now or datetime.now(UTC), progress)
    progress.done()
    text = {"json": lambda: vm_table.as_json(found, gaps) + "\n", "csv": lambda: vm_table.as_csv(found),
            "table": lambda: vm_table.as_table(found)}[args.format]()
    sys.stdout.write(text)
    sys.stdout.flush()
    print(f"{len(found)} VM(s) affected by {args.tracking_id}", file=sys.stderr)
    for gap in gaps:
        print(vm_table.gap_line(gap), file=sys.stderr)
    return EXIT_UNDELIVERED if gaps else EXIT_OK
