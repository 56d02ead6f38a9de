"""`relay serve`'s worker: moves alerts from the inbox through the pipeline, trying each again what may still
succeed, as often and as far apart as the Function App's queue (relay.inbox.retry), then parking it.

The worker takes an item and starts it (parse to route) without waiting for its deliveries, which go out on
the receivers' lanes; the item is finished with (done, tried again later, or parked) when its last delivery
is, on the thread that did it. A worker keeps up to IN_FLIGHT items started and not finished with.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from functools import partial

from relay.alerts import PayloadError
from relay.hosts.parked import tell_operations
from relay.inbox import Inbox, Item
from relay.inbox.retry import MAX_TRIES, RETRY_SECONDS
from relay.pipeline import Outcome, Relay, start

log = logging.getLogger("relay.worker")

IN_FLIGHT = 32  # items a worker has started and not finished with: what it holds in memory at most
# Parked items are told of on a lane of their own: an item is finished with on a receiver's lane, which must
# not wait for the notice going out through the receivers' lanes. No receiver's name holds a space.
NOTICES = "parked notices"


def handle_next(inbox: Inbox, relay: Relay) -> Outcome | None:
    """Process the next due item, if any, and wait until it is finished with. Returns its outcome (None when
    the inbox had nothing due, or the item could not be processed)."""
    finished = start_next(inbox, relay)
    return finished.result() if finished is not None else None


def start_next(inbox: Inbox, relay: Relay) -> Future[Outcome | None] | None:
    """Take the next due item and start it; None when nothing is due. The future is done once the item is
    finished with: its outcome, or None when it could not be processed."""
    item = inbox.take()
    if item is None:
        return None
    finished: Future[Outcome | None] = Future()
    try:
        started = start(item.body, relay)
    except Exception as error:
        started = Future()
        started.set_exception(error)
    started.add_done_callback(lambda _: _finish(inbox, item, relay, started, finished))
    return finished


def _finish(inbox: Inbox, item: Item, relay: Relay, started: Future[Outcome], finished: Future[Outcome | None]) -> None:
    """Done, tried again later, or parked, as the started item came out."""
    if started.cancelled():  # the lanes were shut down: the item stays taken, and is taken up again later
        finished.cancel()
        return
    outcome = None if started.exception() else started.result()
    try:
        reason = _not_done(item, started)
        if reason is None:
            inbox.done(item.id)
        elif not isinstance(started.exception(), PayloadError) and item.attempts + 1 < MAX_TRIES:
            inbox.retry_later(item.id, RETRY_SECONDS)
        else:
            inbox.give_up(item.id, reason)
            told = relay.lanes.submit(NOTICES, partial(tell_operations, relay, item.id, item.body,
                                                       item.attempts + 1, reason))
            told.add_done_callback(lambda _: finished.set_result(outcome))
            return
    except Exception as error:  # taken up again after the lease, or announced by announce_parked
        log.exception("finishing %s failed", item.id)
        finished.set_exception(error)
        return
    finished.set_result(outcome)


def _not_done(item: Item, started: Future[Outcome]) -> str | None:
    """Why the item is to be tried again or parked; None when it is done."""
    error = started.exception()
    if isinstance(error, PayloadError):  # checked at intake, so only a newer parser could get here
        return f"invalid payload: {error}"
    if error is not None:
        log.error("processing %s failed", item.id, exc_info=error)
        return type(error).__name__
    outcome = started.result()
    return outcome.why_retry if outcome.retryable else None


def run(inbox: Inbox, relay: Relay, stop: threading.Event, poll_seconds: float = 0.2,
        in_flight: int = IN_FLIGHT) -> None:
    slots = threading.BoundedSemaphore(in_flight)
    while not stop.is_set():
        if not slots.acquire(timeout=poll_seconds):
            continue
        try:
            finished = start_next(inbox, relay)
        except Exception:  # the worker must outlive any single bad item
            log.exception("worker error")
            finished = None
        if finished is None:
            slots.release()
            stop.wait(poll_seconds)
        else:
            finished.add_done_callback(lambda _: slots.release())
