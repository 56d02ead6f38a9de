"""Alerts the relay gave up on: what they were, and telling the operations receivers about them.

The notice is an event of its own, relayed through the pipeline to the operations receivers, so it is
recorded once in the ledger (a retried last try does not tell twice) and sent like any message.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from .alerts import PayloadError, parse_alert
from .model import Event, EventKind
from .render.markup import macros, plain

log = logging.getLogger("relay.poison")

NOTICE_BUDGET_SECONDS = 30.0  # the notice is sent on the way out of a last try; keep it short


def describe(body: bytes) -> str | None:
    """One line that names the alert (kind, trackingId, stage, title), or None if it does not parse."""
    try:
        event = parse_alert(body)
    except PayloadError:
        return None
    parts = [event.kind.value, event.tracking_id, event.stage or event.status, event.title]
    return " · ".join(p for p in parts if p)


def notice(item_id: str, body: bytes, attempts: int, reason: str, now) -> Event:
    wording = macros("text", "common/poison.j2")
    return Event(
        kind=EventKind.RELAY,
        schema="relay",
        title=plain(wording.title()),
        communication=plain(wording.body(item_id, describe(body), attempts, reason, now)),
        event_data_id=f"poison-{item_id}",
        event_time=now,
    )


def tell_operations(relay, item_id: str, body: bytes, attempts: int, reason: str) -> bool:
    """Send the notice to the operations receivers; True when all of them got it. Never raises: the
    item is parked either way, and the log says so."""
    from .pipeline import process_event

    log.error("parked %s after %d tries: %s", item_id, attempts, reason)
    try:
        event = notice(item_id, body, attempts, reason, relay.clock())
        told = replace(relay, routes=relay.operations or relay.routes, budget_seconds=NOTICE_BUDGET_SECONDS)
        return process_event(event, told).ok
    except Exception:
        log.exception("could not tell the operations receivers about %s", item_id)
        return False
