"""Alerts the relay gave up on: telling the operations receivers about them (relay.notices.parked words it).

The notice is an event of its own, relayed through the pipeline to the operations receivers, so it is
recorded once in the ledger (a retried last try does not tell twice) and sent like any message. Whoever
parks an item tells at once; `announce_parked` catches up on items parked with nobody told: by the
Functions host after a try that was killed or timed out, or by a worker killed between parking and telling.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from relay.inbox import PoisonStore
from relay.model import Event
from relay.notices.parked import parked_notice
from relay.pipeline import Relay, process_event
from relay.runtime import telemetry

log = logging.getLogger("relay.poison")

NOTICE_BUDGET_SECONDS = 30.0  # the notice is sent on the way out of a last try; keep it short
ANNOUNCE_LIMIT = 32  # parked items looked at per run, oldest first (a Storage peek shows no more)


def tell_operations(relay: Relay, item_id: str, body: bytes, attempts: int, reason: str) -> bool:
    """Send the notice to the operations receivers; True when all of them got it. Never raises."""
    log.error("parked %s after %d tries: %s", item_id, attempts, reason)
    telemetry.count("parked")
    return _send(relay, item_id, parked_notice(item_id, body, attempts, reason, relay.clock()))


def announce_parked(inbox: PoisonStore, relay: Relay) -> list[str]:
    """Tell the operations receivers about the parked items (of the inbox) they were not told about,
    or whose notice is still to be retried; the ids told. Items already announced cost a ledger lookup."""
    told = []
    for parked in inbox.parked(ANNOUNCE_LIMIT):
        event = parked_notice(parked.id, parked.body, parked.attempts, parked.reason, relay.clock())
        if relay.ledger.settled(event):
            continue
        log.error("parked %s was not announced; telling the operations receivers now", parked.id)
        if parked.reason is None:  # parked by the Functions host: not counted when it happened
            telemetry.count("parked")
        if _send(relay, parked.id, event):
            told.append(parked.id)
    return told


def _send(relay: Relay, item_id: str, notice: Event) -> bool:
    """Never raises: the item is parked either way, and the log says so."""
    try:
        told = replace(relay, routes=relay.operations or relay.routes, budget_seconds=NOTICE_BUDGET_SECONDS)
        return process_event(notice, told).ok
    except Exception:
        log.exception("could not tell the operations receivers about %s", item_id)
        return False
