"""`relay backfill`: the Service Health alerts the Action Group did not deliver, found in Azure, into the inbox."""
from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, add_now, config_of, fail, instant, subscription_id

_AGO = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

DESCRIPTION = """\
Reads each subscription's Service Health events from the Activity Log (category ServiceHealth) and
its planned maintenance from the Resource Health events API, and puts every communication the ledger
has not seen into the inbox, where `relay serve`'s worker (or the Function App's queue trigger)
relays it. What the ledger knows is skipped, so running it again queues nothing new.

Without --since it reads from where the last run stopped (its watermark in the ledger, less 30
minutes, as the Activity Log lags); the first time, the last 24 hours. The watermark moves only when
everything read was queued.

The inbox: the SQLite file given by --inbox; else the Storage Queue when the environment configures
one (RELAY_QUEUE_CONNECTION, default AzureWebJobsStorage); else .relay/inbox.sqlite, which `relay
serve` reads.

Signs in with DefaultAzureCredential: az login, a managed identity, or the environment
(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). Needs Reader on each subscription.
Progress on stderr; what was queued (or, with --dry-run, would be) on stdout, a line each.
Exit 0 when every subscription was read, 1 when one could not be read or queued (each is said on
stderr), 2 on bad input."""

EPILOG = """\
examples:
  relay backfill --config relay.yaml                        from the watermark, the config's subscriptions
  relay backfill --since 7d --subscription 0a1b2c3d-1111-2222-3333-444455556666 --dry-run
  relay backfill --since 2027-01-05T00:00:00Z --config relay.yaml --inbox /var/relay/inbox.sqlite"""


def register(command) -> None:
    p = command("backfill", help="queue the Service Health alerts that never arrived, read from Azure",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--since", type=since, metavar="WHEN",
                   help="how far back: 30m, 24h, 7d, or an ISO 8601 time; default: the watermark (first run: 24h)")
    p.add_argument("--subscription", action="append", default=[], metavar="ID", type=subscription_id,
                   help="a subscription to read (repeat for more); besides the config's azure.subscriptions")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="YAML config: azure.subscriptions, azure endpoints, the ledger path")
    p.add_argument("--state", type=Path, metavar="FILE",
                   help="ledger file (SQLite); overrides the config (default .relay/ledger.sqlite)")
    p.add_argument("--inbox", type=Path, metavar="FILE",
                   help="the SQLite inbox to fill; default: the Storage Queue when one is configured,"
                        " else .relay/inbox.sqlite (what `relay serve` reads)")
    p.add_argument("--dry-run", action="store_true", help="list what would be queued; queue nothing, move no watermark")
    add_now(p)
    p.set_defaults(run=run)


def since(text: str):
    """`30m`, `24h`, `7d` (a timedelta) or an ISO 8601 time (a datetime)."""
    if match := _AGO.fullmatch(text.strip()):
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        return instant(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"not a duration or time: {text!r} (try 30m, 24h, 7d or 2027-01-05T00:00:00Z)") from None


def run(args) -> int:
    from relay.backfill import find_missed
    from relay.cli.vm_table import Progress
    from relay.config import AzureSettings
    from relay.hosts.wiring import open_inbox, open_ledger

    config = config_of(args)
    settings = config.azure or AzureSettings()
    subscriptions = (*settings.subscriptions, *args.subscription)
    if not subscriptions:
        return fail("no subscription to read: give --subscription ID, or azure.subscriptions in the config")
    now = args.now or datetime.now(UTC)
    start = now - args.since if isinstance(args.since, timedelta) else args.since
    ledger = open_ledger(args.state or config.ledger, os.environ)
    inbox = None if args.dry_run else open_inbox(args.inbox, os.environ)
    progress = Progress()
    try:
        report = find_missed(settings, subscriptions, ledger, _keeper(inbox, config, args), now, since=start,
                             progress=progress)
    finally:
        progress.done()
        ledger.close()
        if inbox is not None:
            inbox.close()
    verb = "would queue" if args.dry_run else "queued"
    for found in report.subscriptions:
        for event in found.queued:
            print(f"{verb}: {found.subscription} {event.kind.value} {event.tracking_id or '-'}"
                  f" {event.stage or event.status or ''}: {event.title}")
        print(found.summary(), file=sys.stderr)
    print(f"backfill: {report.totals()}", file=sys.stderr)
    return EXIT_UNDELIVERED if report.errors else EXIT_OK


def _keeper(inbox, config, args):
    """Into the inbox; an alert too large for a queue message is relayed at once instead, as the intake does."""
    from relay.hosts.inline import process_inline
    from relay.hosts.intake import keep_in_queue
    from relay.hosts.wiring import Paths, open_relay
    from relay.inbox.storage import StorageQueueInbox

    if inbox is None:
        return None
    if isinstance(inbox, StorageQueueInbox):
        return keep_in_queue(inbox, lambda: process_inline(open_relay(config, Paths(ledger=args.state))))
    return lambda body, event: inbox.put(body)
