"""`relay validate FILE`: is this payload usable, and what does the relay read from it?"""
from __future__ import annotations

import json

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, parse_file
from relay.model import Event, MonitorAlert
from relay.render.times import iso_utc


def register(command) -> None:
    p = command("validate", help="check one alert payload and print what the relay reads from it",
                description="Parse one alert (common or legacy schema). Prints a one-line JSON summary"
                " on stdout and exits 0, or prints every problem with its JSON path on stderr and exits 2.")
    p.add_argument("file", help="alert JSON file, or - for standard input")
    p.set_defaults(run=run)


def summary(event: Event) -> dict:
    return {
        "kind": event.kind.value,
        "schema": event.schema,
        "trackingId": event.tracking_id,
        "communicationId": event.communication_id,
        "stage": event.stage,
        "level": event.level,
        "emergency": event.is_emergency,
        "title": event.title,
        "start": iso_utc(event.window.start),
        "end": iso_utc(event.window.end),
        "services": list(event.services),
        "regions": list(event.regions),
        "subscriptions": list(event.subscription_ids),
        "resource": event.resource.resource_id if event.resource else None,
        "alert": _alert(event.alert) if event.alert else None,
        "warnings": list(event.warnings),
    }


def _alert(alert: MonitorAlert) -> dict:
    return {"severity": alert.severity, "monitorCondition": alert.monitor_condition,
            "monitoringService": alert.service, "signalType": alert.signal, "alertRule": alert.rule,
            "targets": list(alert.targets), "fired": iso_utc(alert.fired), "resolved": iso_utc(alert.resolved),
            "criteria": len(alert.criteria), "contextRead": alert.context_read}


def run(args) -> int:
    event = parse_file(args.file)
    if event is None:
        return EXIT_BAD_INPUT
    print(json.dumps(summary(event), ensure_ascii=False))
    return EXIT_OK
