"""`relay remind`: one reminder pass — held messages released, then the reminders due now."""
from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, add_run_options, config_of
from relay.config import Config

DESCRIPTION = """\
Follows each open maintenance between Azure's notices, as the Function App does every 15 minutes:

  1. Messages held for a receiver are released when the hold ends: its quiet hours are over, or no
     silence holds them any more (only while the event is still open). One message per event, the
     latest communication with its VMs as they are now, saying it was held and since when.
  2. Each open maintenance is read again (its VMs' states change after Azure's notice), and each
     receiver of `reminders:` gets what is due, in the event's Slack thread or as a new message
     naming it: before each self-service deadline (default 3d, 1d, 4h) the VMs still in Start now or
     Retry now; before Azure's reboot window opens (default 24h, 1h) the VMs Azure will reboot; and
     once its last VM is done, one "all done" note. A team gets only its own VMs; nothing goes to a
     receiver with no VM left.

Each reminder goes once (the ledger marks it), so running this again sends nothing twice. In a
receiver's quiet hours only urgent ones go (`urgent:`); the others wait for the first pass after.
With --dry-run it prints what would be sent, one line each, and sends and records nothing.
Exit 0 when everything due went out, 1 when something could not be sent, 2 on bad input."""

EPILOG = """\
examples:
  relay remind --config relay.yaml --dry-run
  relay remind --config examples/relay.yaml --inventory examples/inventory.json --now 2027-02-14T00:00:00Z"""


def register(command) -> None:
    p = command("remind", help="send the reminders due now and release held messages",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p)
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; send and record nothing")
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.hosts.wiring import Paths

    return remind_reporting(config_of(args), Paths(args.inventory, args.state, args.outbox),
                            args.now or datetime.now(UTC), dry_run=args.dry_run)


def remind_reporting(config: Config, paths, now: datetime, dry_run: bool = False) -> int:
    """One pass, a line for each message released or reminder due; exit 1 when one could not be sent."""
    from relay.hosts.wiring import open_relay
    from relay.remind.send import remind

    relay = open_relay(config, paths, now=now, environ=os.environ)
    try:
        done = remind(relay, config.reminders, config.receivers(), dry_run=dry_run)
    finally:
        relay.ledger.close()
    for item in done:
        said = f"; {item.detail}" if item.detail else ""
        print(f"{item.receiver}: {item.what} {item.thread}: {item.status}{said}")
    if not done:
        print("nothing due")
    return EXIT_UNDELIVERED if any(item.failed for item in done) else EXIT_OK
