"""`relay route EVENT_FILE`: which receivers would get what, without sending anything."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, add_now, config_of, enriched_file
from relay.model import Event, Notification
from relay.routing import split


def register(command) -> None:
    p = command("route", help="show which receivers would get what, without sending",
                description="Parses the alert, finds the affected VMs and routes them as `relay process` would,\n"
                "then prints one line per receiver: its channel and language, and the VMs its message would\n"
                "list (all of them, or only its own). Receivers that would get nothing are named with the\n"
                "reason. Nothing is sent and the ledger is not touched. With --json the same plan is one JSON object,\n"
                "for checks in a pipeline (for example: does every production VM reach some team?).",
                epilog="examples:\n  relay route examples/alerts/01-planned.json --config examples/relay.yaml\n"
                "  relay route alert.json --json | jq '.receivers[] | select(.gets != \"nothing\") | .name'",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="EVENT_FILE", help="alert JSON file, or - for standard input")
    p.add_argument("--config", type=Path, help="YAML config; default: one outbox receiver per channel")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); overrides the config")
    p.add_argument("--json", action="store_true",
                   help="print the plan as one JSON object (receivers with gets: all, some or nothing)")
    add_now(p)
    p.set_defaults(run=run)


def run(args) -> int:
    config = config_of(args)
    notification = enriched_file(args.file, config, args.inventory, args.now)
    if notification is None:
        return EXIT_BAD_INPUT
    plan = route_plan(notification, config.routes)
    if args.json:
        print(json.dumps({"file": args.file, **plan}, ensure_ascii=False, indent=2))
        return EXIT_OK
    if plan["alert"]:
        alert = plan["alert"]
        where = " in ".join(v for v in (alert["resource_type"], alert["resource_group"]) if v)
        what = " · ".join(v for v in (alert["monitoring_service"], alert["signal_type"], where) if v)
        print(f"{args.file}: alert {plan['stage']} {alert['severity'] or '-'} {alert['alert_rule'] or '-'} ({what})")
    else:
        print(f"{args.file}: {plan['kind']} {plan['stage'] or '-'} {plan['tracking_id'] or '-'}:"
              f" {plan['vm_count']} VM(s) of ours (looked up by {plan['lookup']})")
    width = max((len(r["name"]) for r in plan["receivers"]), default=0)
    for r in plan["receivers"]:
        how = r["channel"] if r["transport"] == r["channel"] else f"{r['channel']} via {r['transport']}"
        if r["gets"] == "nothing":
            print(f"  {r['name']:<{width}}  nothing: {r['why']}")
        elif r["gets"] == "all":
            what = f"all {plan['vm_count']} VM(s)" if plan["vm_count"] else "the event"
            print(f"  {r['name']:<{width}}  {how}, {r['language']}: {what}")
        else:
            print(f"  {r['name']:<{width}}  {how}, {r['language']}: {len(r['vms'])} of {plan['vm_count']} VM(s):"
                  f" {', '.join(v['name'] for v in r['vms'])}")
    return EXIT_OK


def route_plan(notification: Notification, routes) -> dict:
    """Who gets what, as plain data: receivers that get a message first, in routing order, then the others."""
    event, vms = notification.enriched.event, notification.enriched.vms
    receivers = [_share(receiver, "all" if part is notification else "some", part.enriched.vms)
                 for receiver, part in split(notification, routes)]
    reached = {r["name"] for r in receivers}
    for chosen in routes:
        if chosen.receiver.name in reached:
            continue
        why = "no route gives it any of this event" if chosen.wants(event) else \
            f"does not want {event.kind.value} {event.stage or ''}".rstrip()
        receivers.append(_share(chosen.receiver, "nothing", (), why))
    return {"kind": event.kind.value, "stage": event.stage, "tracking_id": event.tracking_id,
            "vm_count": len(vms), "lookup": notification.enriched.lookup, "alert": _alert(event),
            "receivers": receivers}


def _alert(event: Event) -> dict | None:
    """What an alert is routed on, by the routing fields' names."""
    alert = event.alert
    if alert is None:
        return None
    return {"severity": alert.severity, "monitoring_service": alert.service, "signal_type": alert.signal,
            "alert_rule": alert.rule, "resource_type": alert.target_type, "resource_group": alert.target_group}


def _share(receiver, gets: str, vms, why: str | None = None) -> dict:
    share = {"name": receiver.name, "channel": receiver.channel, "transport": receiver.transport,
             "language": receiver.language, "gets": gets, "vms": [{"name": a.vm.name, "id": a.vm.id} for a in vms]}
    return {**share, "why": why} if why else share
