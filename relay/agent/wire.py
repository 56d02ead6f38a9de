"""What the agent sends the relay: one JSON body per Scheduled Event it sees for its VM.

    {"schemaId": "relay/scheduledEvent",
     "data": {"vm": {"name": "vm-web-01", "resourceId": "/subscriptions/…/virtualMachines/vm-web-01",
                     "location": "japaneast"},
              "observedAt": "2026-01-20T15:05:01Z",
              "event": {…the event exactly as the Instance Metadata Service gave it…}}}

An event whose body would be larger than the relay takes (MAX_BYTES) goes reduced rather than not at all:
Azure's fields only, each text cut short, and as many of its Resources as fit; the log says what was left out.
The relay reads it in relay/alerts/scheduled_event.py. Standard library only, like the rest of the agent.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

SCHEMA_ID = "relay/scheduledEvent"
MAX_BYTES = 256 * 1024  # the relay's intake refuses larger bodies (relay.alerts.MAX_BYTES)
# What a reduced report keeps besides Resources: Azure's fields, each text cut to TEXT_CHARS (they are names, ids
# and times, and a one-sentence Description), which leaves most of MAX_BYTES to Resources.
_FIELDS = ("EventId", "EventType", "ResourceType", "EventStatus", "NotBefore", "Description", "EventSource",
           "DurationInSeconds")
TEXT_CHARS = 1000

log = logging.getLogger("relay.agent")


def report(vm: dict, event: dict, observed_at: datetime) -> dict:
    """The body for one event: `vm` holds name, resourceId and location (those known)."""
    when = observed_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"schemaId": SCHEMA_ID, "data": {"vm": vm, "observedAt": when, "event": event}}
    size = len(encode(body))
    if size > MAX_BYTES:
        _reduce(body, event, size)
    return body


def encode(body: dict) -> bytes:
    """The bytes posted: ASCII (non-ASCII characters escaped), so the relay counts what `report` measured."""
    return json.dumps(body).encode("ascii")


def _reduce(body: dict, event: dict, size: int) -> None:
    """Put the reduced event in the body, and say so in the log."""
    reduced: dict = {}
    for key in _FIELDS:
        value = event.get(key)
        if isinstance(value, str):
            reduced[key] = value if len(value) <= TEXT_CHARS else value[:TEXT_CHARS - 1] + "…"
        elif isinstance(value, (int, float)):
            reduced[key] = value
    resources = event.get("Resources")
    names = [name for name in resources if isinstance(name, str)] if isinstance(resources, list) else []
    kept: list[str] = []
    reduced["Resources"] = kept
    body["data"]["event"] = reduced
    room = MAX_BYTES - len(encode(body))
    for name in names:
        room -= len(json.dumps(name)) + 2  # with the ", " before it
        if room < 0:
            break
        kept.append(name)
    left_out = f"; {len(names) - len(kept)} of its {len(names)} Resources are left out" if len(kept) < len(names) else ""
    log.warning("the report of %s would be %d bytes, more than the relay's %d: sending Azure's fields only, texts "
                "cut to %d characters%s", reduced.get("EventId"), size, MAX_BYTES, TEXT_CHARS, left_out)
