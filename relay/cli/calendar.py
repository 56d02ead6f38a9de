"""`relay calendar`: a receiver's maintenance calendar as an .ics file, the one GET /api/calendar.ics serves."""
from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.cli.common import EXIT_OK, add_now, config_of, fail

DESCRIPTION = """\
Writes a receiver's maintenance calendar (RFC 5545 iCalendar): for each maintenance of the last 30 days and
ahead that the receiver was told of, an entry for the self-service deadline with the VMs still to do, and one
for Azure's scheduled window with the VMs it will reboot, in JST. Read from the ledger alone: no Azure call.
It is the file GET /api/calendar.ics?receiver=NAME serves, on the Function App and on `relay serve`."""

EPILOG = """\
examples:
  relay calendar --config relay.yaml --receiver managers --out managers.ics
  relay calendar --config relay.yaml --receiver db-team > db-team.ics"""


def register(command) -> None:
    p = command("calendar", help="write a receiver's maintenance calendar (.ics) from the ledger",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="YAML config (receivers, ledger); default: one receiver per channel")
    p.add_argument("--state", type=Path, help="ledger file (SQLite); overrides the config (default .relay/ledger.sqlite)")
    p.add_argument("--receiver", metavar="NAME", help="whose calendar; needed when more than one receiver has one")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the file here; default: standard output")
    add_now(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.calendar.feed import CalendarFeed, NoCalendar
    from relay.hosts.wiring import open_ledger

    config = config_of(args)
    ledger = open_ledger(args.state or config.ledger, os.environ)
    now = args.now or datetime.now(UTC)
    try:
        found = CalendarFeed(ledger, config.receivers(), lambda: now).file(args.receiver)
    except NoCalendar as e:
        return fail(str(e))
    finally:
        ledger.close()
    if args.out is None:
        sys.stdout.buffer.write(found.body)
    else:
        args.out.write_bytes(found.body)
        print(f"{args.out}: the calendar of {found.receiver}", file=sys.stderr)
    return EXIT_OK
