"""`relay process FILE…`: alert files through the whole pipeline, a line each."""
from __future__ import annotations

from datetime import datetime

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNDELIVERED, add_run_options, config_of, parse_file
from relay.cli.outbox_page import write_index
from relay.config import Config
from relay.hosts.wiring import Paths, open_relay
from relay.model import Event
from relay.pipeline import Outcome, Relay, process_event


def register(command) -> None:
    p = command("process", help="relay alert files through the whole pipeline",
                description="Parse, deduplicate (a communication already delivered sends nothing),"
                " find the affected VMs, route, render and deliver each alert file in order.")
    p.add_argument("files", nargs="+", metavar="FILE", help="alert JSON files, or - for standard input")
    add_run_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    return relay_files(args.files, config_of(args), Paths(args.inventory, args.state, args.outbox), args.now)


def relay_files(files: list[str], config: Config, paths: Paths, now: datetime | None) -> int:
    """Each file through the pipeline, a line each; then the outbox index. The exit status of the worst."""
    relay = open_relay(config, paths, now=now)
    outbox = paths.outbox or config.outbox
    worst = EXIT_OK
    try:
        for file in files:
            event = parse_file(file)
            if event is None:
                worst = EXIT_BAD_INPUT
                continue
            outcome = process_event_reporting(file, event, relay)
            if not outcome.ok and worst == EXIT_OK:
                worst = EXIT_UNDELIVERED
    finally:
        relay.ledger.close()
    if outbox.is_dir():
        print(f"outbox: {write_index(outbox)}")
    return worst


def process_event_reporting(file: str, event: Event, relay: Relay) -> Outcome:
    outcome = process_event(event, relay)
    what = f"{event.kind.value} {event.tracking_id or '-'} {event.stage or event.status or ''}".strip()
    if outcome.status == "duplicate":
        print(f"{file}: {what}: duplicate, already delivered; nothing sent")
    elif outcome.status == "superseded":
        print(f"{file}: {what}: arrived after a newer communication ({outcome.superseded_by}); nothing sent")
    else:
        sent = sum(d.result.ok and not d.held for d in outcome.deliveries)
        held = sum(bool(d.held) for d in outcome.deliveries)
        print(f"{file}: {what}: {outcome.vm_count} VM(s); delivered to {sent}/{len(outcome.deliveries)} receiver(s)"
              + (f", held for {held}" if held else ""))
        for d in outcome.deliveries:
            if not d.result.ok:
                print(f"  {d.receiver}: NOT delivered: {d.result.detail}")
            elif d.held:
                print(f"  {d.receiver}: {d.result.detail}")
    for warning in event.warnings:
        print(f"  warning: {warning}")
    return outcome
