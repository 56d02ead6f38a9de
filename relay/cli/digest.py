"""`relay digest`: the managers' daily email — maintenance ahead, deadlines, forced reboots, what changed."""
from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, add_run_options, fail
from relay.config import Config, load_config

DESCRIPTION = """\
Sends each receiver of the config's `digest:` section one email: the maintenance in the next 14 days
and what changed since its last digest, VMs by state per team (the `team_tag`) or subscription,
self-service deadlines within 7 days first, the VMs Azure will reboot and when, and what was completed
or canceled; every VM in an attached CSV. VM states are read now (inventory or Azure), not copied from
the alerts. A receiver gets at most one digest a day (JST), and none on a day with nothing to report
unless it asks for an all clear. The Function App sends it at 00:00 UTC (09:00 JST).

With --dry-run it prints what each receiver would get, one line each, and sends and records nothing.
Exit 0 when every digest due went out (or none was due), 1 when one could not be sent, 2 on bad input."""

EPILOG = """\
examples:
  relay digest --config relay.yaml
  relay digest --config relay.yaml --inventory inventory.json --now 2027-01-12T00:00:00Z --dry-run"""


def register(command) -> None:
    p = command("digest", help="send the managers' daily maintenance digest by email",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p)
    p.add_argument("--dry-run", action="store_true", help="print what each receiver would get; send and record nothing")
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.hosts.wiring import Paths

    if args.config is None:
        return fail("the digest needs a config with a digest: section (--config FILE)")
    return send_digests_reporting(load_config(args.config), Paths(args.inventory, args.state, args.outbox),
                                  args.now or datetime.now(UTC), dry_run=args.dry_run)


def send_digests_reporting(config: Config, paths, now: datetime, dry_run: bool = False) -> int:
    """Each digest receiver's email, a line each; exit 1 when one could not be sent."""
    from relay.digest.send import send_digests
    from relay.hosts.wiring import open_relay

    if config.digest is None:
        return fail(f"{config.source}: no digest: section (receivers to send the digest to)")
    relay = open_relay(config, paths, now=now, environ=os.environ)
    try:
        outcomes = send_digests(relay, config.digest, config.receivers(), dry_run=dry_run)
    finally:
        relay.ledger.close()
    for outcome in outcomes:
        said = [part for part in (outcome.summary, outcome.detail) if part]
        print(f"{outcome.receiver}: {outcome.status}" + "".join(f"; {part}" for part in said))
    return EXIT_UNDELIVERED if any(outcome.failed for outcome in outcomes) else EXIT_OK
