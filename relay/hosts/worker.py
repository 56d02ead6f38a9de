"""`relay serve`'s worker: moves alerts from the inbox through the pipeline, trying each again what may still
succeed, as often and as far apart as the Function App's queue (relay.inbox.retry), then parking it."""
from __future__ import annotations

import logging
import threading

from relay.alerts import PayloadError
from relay.hosts.parked import tell_operations
from relay.inbox import Inbox, Item
from relay.inbox.retry import MAX_TRIES, RETRY_SECONDS
from relay.pipeline import Outcome, Relay, process

log = logging.getLogger("relay.worker")


def handle_next(inbox: Inbox, relay: Relay) -> Outcome | None:
    """Process the next due item, if any. Returns its outcome (None when the inbox had nothing due)."""
    item = inbox.take()
    if item is None:
        return None
    try:
        outcome = process(item.body, relay)
    except PayloadError as e:  # checked at intake, so only a newer parser could get here
        _give_up(inbox, item, relay, f"invalid payload: {e}")
        return None
    except Exception as e:
        log.exception("processing %s failed", item.id)
        _again(inbox, item, relay, f"{type(e).__name__}")
        return None
    if outcome.retryable:
        _again(inbox, item, relay, outcome.why_retry)
    else:
        inbox.done(item.id)
    return outcome


def _again(inbox: Inbox, item: Item, relay: Relay, reason: str) -> None:
    if item.attempts + 1 >= MAX_TRIES:
        _give_up(inbox, item, relay, reason)
    else:
        inbox.retry_later(item.id, RETRY_SECONDS)


def _give_up(inbox: Inbox, item: Item, relay: Relay, reason: str) -> None:
    inbox.give_up(item.id, reason)
    tell_operations(relay, item.id, item.body, item.attempts + 1, reason)


def run(inbox: Inbox, relay: Relay, stop: threading.Event, poll_seconds: float = 0.2) -> None:
    while not stop.is_set():
        try:
            if handle_next(inbox, relay) is None:
                stop.wait(poll_seconds)
        except Exception:  # the worker must outlive any single bad item
            log.exception("worker error")
            stop.wait(poll_seconds)
