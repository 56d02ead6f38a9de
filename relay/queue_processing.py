"""The Function App's queue path: the intake puts each alert on the Storage Queue, the queue trigger relays it.

The Functions host does the inbox's bookkeeping: a trigger that returns deletes the message; one that
raises leaves it to come back after host.json's visibilityTimeout. On the last try (maxDequeueCount) the
relay parks the alert itself: it puts a copy on `<queue>-poison`, tells the operations receivers the
copy's id (the one `relay poison replay` takes; the host's own copy would get an id nobody was told),
and returns, so the host deletes the original. A try that dies before that is parked by the host, and
the announcing timer (relay/poison.py) tells about it instead.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .alerts import PayloadError
from .inbox.storage import MAX_DEQUEUE_COUNT, QUEUE, StorageQueueInbox, fits
from .ingest import process_inline
from .model import Event

if TYPE_CHECKING:  # the intake imports this module too, and must not load the pipeline's renderers
    from .pipeline import Outcome, Relay

log = logging.getLogger("relay.queue")


class NotRelayed(RuntimeError):
    """Raised to the Functions host so that it keeps the message: tried again, or poisoned after the last try."""


def handle_message(body: bytes, dequeue_count: int, relay: Relay, message_id: str = "",
                   park: Callable[[bytes], str] | None = None) -> Outcome | None:
    """Relay one queue message. Returns when it is finished with: delivered, duplicate, failed for good,
    or parked with `park` on its last try (None then). Raises NotRelayed when a later try may still
    succeed, or when it must be left to the host to park."""
    from .pipeline import process

    try:
        outcome = process(body, relay)
    except PayloadError as e:  # checked at intake, so only a newer parser could get here
        reason = f"invalid payload: {e}"
    else:
        if not outcome.retryable:
            return outcome
        failed = sorted(d.receiver for d in outcome.deliveries if not d.result.ok and d.result.retryable)
        reason = f"not delivered to {', '.join(failed)}"
    if dequeue_count < MAX_DEQUEUE_COUNT:
        log.warning("message %s, try %d of %d: %s; trying again later", message_id, dequeue_count,
                    MAX_DEQUEUE_COUNT, reason)
        raise NotRelayed(reason)
    if park is None:
        log.error("message %s, last try: %s; the host now parks it in %s-poison", message_id, reason, QUEUE)
        raise NotRelayed(reason)
    from .poison import tell_operations

    parked_id = park(body)  # raises when Storage fails: the host then parks it, and the timer tells
    tell_operations(relay, parked_id, body, dequeue_count, f"{reason} (now in {QUEUE}-poison)")
    return None


def keep_in_queue(inbox: StorageQueueInbox, inline_relay: Callable[[], Relay]) -> Callable[[bytes, Event], str]:
    """The intake's `keep`: put the alert on the queue. One too large for a queue message is relayed at
    once instead (as without a queue), rather than refused and lost."""

    def keep(body: bytes, event: Event) -> str:
        if fits(body):
            return inbox.put(body)
        log.warning("alert %s (%d bytes) is too large for a queue message; relaying it now", event.dedup_key, len(body))
        return process_inline(inline_relay())(body, event)

    return keep
