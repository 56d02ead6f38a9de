"""`relay route EVENT_FILE`: which receivers would get what, without sending anything."""
from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from ..enrich import enrich
from ..model import Notification
from ..routing import split
from .common import EXIT_BAD_INPUT, EXIT_OK, add_now, config_of, parse_file


def register(command) -> None:
    p = command("route", help="show which receivers would get what, without sending",
                description="Parses the alert, finds the affected VMs and routes them as `relay process` would,\n"
                "then prints one line per receiver: its channel and language, and the VMs its message would\n"
                "list (all of them, or only its own). Receivers that would get nothing are named with the\n"
                "reason. Nothing is sent and the ledger is not touched.",
                epilog="example:\n  relay route examples/alerts/01-planned.json --config examples/relay.yaml",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="EVENT_FILE", help="alert JSON file, or - for standard input")
    p.add_argument("--config", type=Path, help="YAML config; default: one outbox receiver per channel")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); overrides the config")
    add_now(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..app import vm_source

    event = parse_file(args.file)
    if event is None:
        return EXIT_BAD_INPUT
    config = config_of(args)
    source = vm_source(config, args.inventory)
    notification = Notification(enrich(event, source, args.now or datetime.now(UTC)))
    vms = notification.enriched.vms
    print(f"{args.file}: {event.kind.value} {event.stage or '-'} {event.tracking_id or '-'}:"
          f" {len(vms)} VM(s) of ours (looked up by {notification.enriched.lookup})")
    shares = split(notification, config.routes)
    width = max((len(r.receiver.name) for r in config.routes), default=0)
    for receiver, part in shares:
        listed = part.enriched.vms
        how = receiver.channel if receiver.transport == receiver.channel else f"{receiver.channel} via {receiver.transport}"
        if part is notification:
            what = f"all {len(vms)} VM(s)" if vms else "the event"
        else:
            what = f"{len(listed)} of {len(vms)} VM(s): {', '.join(a.vm.name for a in listed)}"
        print(f"  {receiver.name:<{width}}  {how}, {receiver.language}: {what}")
    reached = {receiver.name for receiver, _ in shares}
    for route in config.routes:
        if route.receiver.name in reached:
            continue
        why = "no route gives it any of this event" if route.wants(event) else \
            f"does not want {event.kind.value} {event.stage or ''}".rstrip()
        print(f"  {route.receiver.name:<{width}}  nothing: {why}")
    return EXIT_OK
