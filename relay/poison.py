"""Alerts the relay gave up on: what they were, and telling the operations receivers about them.

The notice is an event of its own, relayed through the pipeline to the operations receivers, so it is
recorded once in the ledger (a retried last try does not tell twice) and sent like any message. Whoever
parks an item tells at once; `announce_parked` catches up on items parked with nobody told: by the
Functions host after a try that was killed or timed out, or by a worker killed between parking and telling.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from . import telemetry
from .alerts import PayloadError, parse_alert
from .model import Event, EventKind
from .render.markup import macros, plain

log = logging.getLogger("relay.poison")

NOTICE_BUDGET_SECONDS = 30.0  # the notice is sent on the way out of a last try; keep it short
ANNOUNCE_LIMIT = 32  # parked items looked at per run, oldest first (a Storage peek shows no more)


def describe(body: bytes) -> str | None:
    """One line that names the alert (kind, trackingId, stage, title), or None if it does not parse."""
    try:
        event = parse_alert(body)
    except PayloadError:
        return None
    parts = [event.kind.value, event.tracking_id, event.stage or event.status, event.title]
    return " · ".join(p for p in parts if p)


def notice(item_id: str, body: bytes, attempts: int, reason: str | None, now) -> Event:
    """`reason` None: the parking side did not say (the Functions host never does)."""
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
    """Send the notice to the operations receivers; True when all of them got it. Never raises."""
    log.error("parked %s after %d tries: %s", item_id, attempts, reason)
    telemetry.count("parked")
    return _send(relay, item_id, lambda: notice(item_id, body, attempts, reason, relay.clock()))


def announce_parked(store, relay) -> list[str]:
    """Tell the operations receivers about the parked items (of a PoisonStore) they were not told about,
    or whose notice is still to be retried; the ids told. Items already announced cost a ledger lookup."""
    told = []
    for parked in store.parked(ANNOUNCE_LIMIT):
        event = notice(parked.id, parked.body, parked.attempts, parked.reason, relay.clock())
        if relay.ledger.settled(event):
            continue
        log.error("parked %s was not announced; telling the operations receivers now", parked.id)
        if parked.reason is None:  # parked by the Functions host: not counted when it happened
            telemetry.count("parked")
        if _send(relay, parked.id, lambda: event):
            told.append(parked.id)
    return told


def announce_from_environment(environ) -> list[str]:
    """The Function App's timer: the poison queue of the Storage Queue inbox, the relay's own ledger."""
    from .app import from_environment
    from .inbox.storage import queue_inbox

    inbox = queue_inbox(environ)
    if inbox is None:
        return []
    relay = from_environment(dict(environ))
    try:
        return announce_parked(inbox, relay)
    finally:
        relay.ledger.close()
        inbox.close()


def _send(relay, item_id: str, make_notice: Callable[[], Event]) -> bool:
    """Never raises: the item is parked either way, and the log says so."""
    from .pipeline import process_event

    try:
        told = replace(relay, routes=relay.operations or relay.routes, budget_seconds=NOTICE_BUDGET_SECONDS)
        return process_event(make_notice(), told).ok
    except Exception:
        log.exception("could not tell the operations receivers about %s", item_id)
        return False
