"""`relay maintain start`: self-service maintenance ("Start now") of many VMs at once, in safe waves."""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, add_now, config_of, fail, subscription_id
from relay.config import AzureSettings

DEFAULT_PARALLEL = 5
DEFAULT_TIMEOUT_MINUTES = 60.0  # a VM's operation; Azure's take about 10 to 30 minutes

DESCRIPTION = """\
Starts the planned maintenance of the chosen VMs yourself, as the portal's "Start now" does, instead
of waiting for Azure's scheduled window. Only VMs whose maintenance status is Start now (or Retry
now) are started; the others are listed as skipped, with why.

The VMs go in waves: at most --max-parallel at once, never two of one availability set, one scale
set or one availability zone (zonal VMs of one subscription and region) at the same time. Each VM is
rebooted; a VM with a dynamic public IP address gets a new one. The plan is printed first and must
be confirmed (or --yes). Each start and the outcome are posted to the config's receivers, in the
maintenance's thread.

Signs in with DefaultAzureCredential (az login, a managed identity, or AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). Needs Virtual Machine Contributor on the VMs' scope.
Exit 0 when every started VM completed, 1 when some failed or did not end in time (or the VM list is
incomplete), 2 on bad input or without confirmation."""

EPILOG = """\
examples:
  relay maintain start --tracking-id XY12-3ZQ --resource-group rg-web --dry-run
  relay maintain start --tracking-id XY12-3ZQ --tag env=prod --max-parallel 3 --config relay.yaml
  relay maintain start --vm /subscriptions/<id>/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web-01 --yes"""


def register(command) -> None:
    p = command("maintain", help="start the self-service maintenance of many VMs at once",
                description="Self-service maintenance of many VMs.")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start the maintenance of the chosen VMs, in safe waves",
                               description=DESCRIPTION, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    chosen = start.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--vm", nargs="+", action="extend", default=[], metavar="ID",
                        help="VM ids (a scale set's VM: …/virtualMachineScaleSets/SET/virtualMachines/N)")
    chosen.add_argument("--tracking-id", metavar="ID", help="every VM of ours that this maintenance affects")
    start.add_argument("--resource-group", action="append", default=[], metavar="RG",
                       help="with --tracking-id: only VMs of this resource group (repeat for more)")
    start.add_argument("--tag", action="append", default=[], type=_tag, metavar="K=V",
                       help="with --tracking-id: only VMs with this tag (repeat: all of them)")
    start.add_argument("--subscription", action="append", default=[], metavar="ID", type=subscription_id,
                       help="with --tracking-id: a subscription to search, as `relay vms` does")
    start.add_argument("--max-parallel", type=_positive, default=DEFAULT_PARALLEL, metavar="N",
                       help=f"VMs in maintenance at once (default {DEFAULT_PARALLEL})")
    start.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_MINUTES, metavar="MINUTES",
                       help=f"how long to follow one VM's operation (default {DEFAULT_TIMEOUT_MINUTES:g})")
    start.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    start.add_argument("--yes", action="store_true", help="start without asking")
    start.add_argument("--by", metavar="NAME", help="who starts it, in the notices (default: the signed-in"
                       " identity when the token names it, else the OS user)")
    start.add_argument("--config", type=Path, help="YAML config: azure: settings and the receivers to tell")
    start.add_argument("--outbox", type=Path, help="outbox folder; overrides the config")
    start.add_argument("--state", type=Path, help="ledger file (SQLite); overrides the config")
    add_now(start)
    start.set_defaults(run=run)


def run(args) -> int:
    from relay.cli import maintain_report as report
    from relay.cli import vm_table
    from relay.enrich.azure.graph import TRACKING_ID
    from relay.maintain import find, plan
    from relay.maintain import run as maintain

    if args.tracking_id and not TRACKING_ID.match(args.tracking_id):
        return fail(f"not a trackingId: {args.tracking_id!r} (like XY12-3ZQ)")
    if args.vm and (args.resource_group or args.tag or args.subscription):
        return fail("--resource-group, --tag and --subscription narrow a --tracking-id search; with --vm, name the VMs")
    if bad := find.not_vm_ids(args.vm):
        return fail(f"not a VM id: {bad[0]!r}")
    config = config_of(args)
    settings = config.azure or AzureSettings()
    now = args.now or datetime.now(UTC)
    progress = vm_table.Progress()
    if args.tracking_id:
        affected, gaps = vm_table.lookup(args.tracking_id, settings, tuple(args.subscription), now, progress)
        found = [a for a in affected if plan.in_scope(a.vm, tuple(args.resource_group), tuple(args.tag))]
        planned = plan.plan(found, args.max_parallel)
    else:
        planned = maintain.plan_named(settings, args.vm, now, args.max_parallel)
        gaps = ()
    progress.done()
    sys.stdout.write(report.plan_text(planned))
    print(report.summary(planned, args.max_parallel))
    for gap in gaps:
        print(vm_table.gap_line(gap), file=sys.stderr)
    incomplete = EXIT_UNDELIVERED if gaps else EXIT_OK
    if not planned.chosen or args.dry_run:
        print("nothing started" + (" (dry run)" if args.dry_run and planned.chosen else ""))
        return incomplete
    if not args.yes:
        if not sys.stdin.isatty():
            return fail("confirm with --yes to start maintenance without a terminal (or --dry-run to see the plan)")
        if input(f"Start maintenance on {len(planned.chosen)} VM(s)? Each is rebooted. [y/N] ").strip().lower() \
                not in ("y", "yes"):
            print("nothing started")
            return EXIT_OK
    ok = _start(args, config, settings, planned, now, progress)
    return EXIT_UNDELIVERED if not ok else incomplete


def _start(args, config, settings, planned, now: datetime, progress) -> bool:
    """Tell, start, follow, tell (relay.maintain.run); print the table. True when every VM started completed."""
    from relay.cli import maintain_report as report
    from relay.hosts.wiring import Paths, open_relay
    from relay.maintain import run as maintain

    relay = open_relay(config, Paths(ledger=args.state, outbox=args.outbox))
    timeout = args.timeout * 60
    tell = maintain.through(relay, lambda receiver, detail: print(f"notice not delivered to {receiver}: {detail}",
                                                                  file=sys.stderr))
    try:
        ran = maintain.start_planned(settings, planned, by=args.by, tracking_id=args.tracking_id,
                                     max_parallel=args.max_parallel, tell=tell, now=now, timeout=timeout,
                                     progress=progress, done=progress.done)
    except KeyboardInterrupt:
        print("stopped: operations already started go on in Azure; check them with relay vms or the portal",
              file=sys.stderr)
        raise
    finally:
        relay.ledger.close()
    print(report.results_text(list(ran.results), [*ran.skipped, *ran.blocked], timeout))
    print(f"{ran.completed} completed, {len(ran.results) - ran.completed} failed,"
          f" {len(ran.skipped) + len(ran.blocked)} skipped")
    return ran.all_completed


def _tag(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not a tag: {text!r} (like env=prod)")
    return name.strip(), value.strip()


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return n
