"""`relay route EVENT_FILE`: which receivers would get what, without sending anything."""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, add_now, config_of, enriched_file, instant
from relay.config import Config, default_config
from relay.hold.gate import verdict
from relay.model import Event, EventKind, Notification, Receiver, Silence
from relay.remind.due import offset_text, schedule
from relay.render.times import format_time_short, iso_utc
from relay.routing import split


def register(command) -> None:
    p = command("route", help="show which receivers would get what, without sending",
                description="Parses the alert, finds the affected VMs and routes them as `relay process` would,\n"
                "then prints one line per receiver: its channel and language, and the VMs its message would\n"
                "list (all of them, or only its own). Under it: whether the message would go now, wait for the\n"
                "receiver's quiet hours to end, or be held by a silence (read from the ledger), and the reminders\n"
                "it would get before the deadline and the reboots if its VMs stayed as they are. Receivers that\n"
                "would get nothing are named with the reason. Nothing is sent and nothing is written. With --json\n"
                "the same plan is one JSON object, for checks in a pipeline (for example: does every production VM\n"
                "reach some team?).",
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
    plan = route_plan(notification, config.routes, config, _silences(config))
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
        if r["gets"] != "nothing":  # what is out of the ordinary: it would wait, or go through quiet hours
            indent = " " * (width + 4)
            if r["now"]["hold"] or r["now"]["urgent"]:
                print(f"{indent}now: {_when_shown(r['now'])}")
            if r["reminders"]:
                print(f"{indent}reminders: " + ", ".join(
                    f"{m['kind']} {m['before']} at {format_time_short(instant(m['at']), 'en')}" for m in r["reminders"]))
    return EXIT_OK


def _silences(config: Config) -> list[Silence]:
    """The silences in the ledger, read without creating it (a ledger that does not exist has none)."""
    from relay.hosts.wiring import TABLES, open_ledger
    from relay.runtime import connections

    if not connections.configured(os.environ, TABLES, "table") and not config.ledger.exists():
        return []
    ledger = open_ledger(config.ledger, os.environ)
    try:
        return ledger.silences()
    finally:
        ledger.close()


def _when_shown(now: dict) -> str:
    if now["hold"] == "silence":
        return f"held by silence {now['silence']} until {format_time_short(instant(now['until']), 'en')}"
    if now["hold"] == "quiet_hours":
        return f"held for its quiet hours until {format_time_short(instant(now['until']), 'en')}"
    return f"sent at once, in its quiet hours: urgent ({now['urgent']})"


def route_plan(notification: Notification, routes, config: Config | None = None,
               silences: Sequence[Silence] = ()) -> dict:
    """Who gets what, as plain data: receivers that get a message first, in routing order, then the others; with
    a config, when each share would go (quiet hours, silences) and the reminders it would get."""
    event, vms = notification.enriched.event, notification.enriched.vms
    config = config or default_config()
    reminded = set(config.reminders.reminded(r.receiver for r in routes))
    receivers = [{**_share(receiver, "all" if part is notification else "some", part.enriched.vms),
                  **_follow_up(part, receiver, config, silences, receiver.name in reminded)}
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


def _follow_up(part: Notification, receiver: Receiver, config: Config, silences: Sequence[Silence],
               reminded: bool) -> dict:
    """When the share would go, and the reminders it would get."""
    now = part.enriched.now
    said = verdict(part, receiver, silences, config.urgent, now)
    ahead = schedule(part.event, part.enriched.vms, config.reminders, now) \
        if reminded and part.event.kind is EventKind.MAINTENANCE else []
    return {"now": {"hold": said.hold, "until": iso_utc(said.until), "urgent": said.urgent,
                    "silence": said.silence.id if said.silence else None},
            "reminders": [{"kind": r.kind, "before": offset_text(r.before), "at": iso_utc(r.due - r.before)}
                          for r in ahead if r.due and r.before]}


def _share(receiver, gets: str, vms, why: str | None = None) -> dict:
    share = {"name": receiver.name, "channel": receiver.channel, "transport": receiver.transport,
             "language": receiver.language, "gets": gets, "vms": [{"name": a.vm.name, "id": a.vm.id} for a in vms]}
    return {**share, "why": why} if why else share
