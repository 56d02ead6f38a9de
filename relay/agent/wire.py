"""What the agent sends the relay: one JSON body per Scheduled Event it sees for its VM.

    {"schemaId": "relay/scheduledEvent",
     "data": {"vm": {"name": "vm-web-01", "resourceId": "/subscriptions/…/virtualMachines/vm-web-01",
                     "location": "japaneast"},
              "observedAt": "2026-01-20T15:05:01Z",
              "event": {…the event exactly as the Instance Metadata Service gave it…}}}

The relay reads it in relay/alerts/scheduled_event.py. Standard library only, like the rest of the agent.
"""
from __future__ import annotations

from datetime import datetime, timezone

SCHEMA_ID = "relay/scheduledEvent"


def report(vm: dict, event: dict, observed_at: datetime) -> dict:
    """The body for one event: `vm` holds name, resourceId and location (those known)."""
    when = observed_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schemaId": SCHEMA_ID, "data": {"vm": vm, "observedAt": when, "event": event}}
