"""Alert bodies → Event: the wire formats the relay reads. Parsing only, no I/O.

    document.py         bytes → a JSON object, and reading its fields with their JSON paths
    activity_log.py     Service Health and Resource Health alerts, common and legacy schemas
    monitor.py          every other Azure Monitor alert of the common schema: metric, log search, activity log,
                        smart detection, Prometheus, budget; its essentials
    alert_context.py    what such an alert's context says of its cause, per monitoring service
    scheduled_event.py  a Scheduled Event as `relay agent` reports it from a VM

What makes the alert unusable is a *problem*: every problem
is collected and raised together as one PayloadError. A malformed optional field is a *warning*: the field is read
as unknown (None) and the event is still relayed.
"""
from __future__ import annotations

from dataclasses import replace

from relay.alerts.activity_log import SUPPORTED_SCHEMAS, read_activity_log
from relay.alerts.document import (
    MAX_BYTES,
    MAX_DEPTH,
    Node,
    Notes,
    PayloadError,
    Problem,
    load_document,
    parse_timestamp,
)
from relay.alerts.monitor import is_monitor_alert, read_monitor_alert
from relay.alerts.scheduled_event import is_scheduled_event, read_scheduled_event
from relay.model import Event

__all__ = ["MAX_BYTES", "MAX_DEPTH", "SUPPORTED_SCHEMAS", "PayloadError", "Problem", "parse_alert", "parse_timestamp"]


def parse_alert(raw: bytes | str) -> Event:
    """Read one alert body (or an agent's Scheduled Event report) into an Event. Raises PayloadError, and nothing
    else, for any input."""
    notes = Notes()
    root = Node(load_document(raw), "$", notes)
    if is_scheduled_event(root.get("schemaId")):
        event = read_scheduled_event(root)
    elif is_monitor_alert(root):
        event = read_monitor_alert(root)
    else:
        event = read_activity_log(root)
    if event is None or notes.problems:
        raise PayloadError(notes.problems or [Problem("$", "not a supported alert")])
    return replace(event, warnings=tuple(notes.warnings))
