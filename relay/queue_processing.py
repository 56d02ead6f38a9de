"""The Function App's queue path: the intake puts each alert on the Storage Queue, the queue trigger relays it.

The Functions host does the inbox's bookkeeping: a trigger that returns deletes the message; one that
raises leaves it to come back after host.json's visibilityTimeout, and after maxDequeueCount tries the
host moves it to `<queue>-poison`, where `relay poison` finds it.
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


def handle_message(body: bytes, dequeue_count: int, relay: Relay, message_id: str = "") -> Outcome:
    """Relay one queue message. Returns when it is finished with (delivered, duplicate, or failed for
    good); raises NotRelayed when a later try may still succeed, or it cannot be relayed at all."""
    from .pipeline import process

    try:
        outcome = process(body, relay)
    except PayloadError as e:  # checked at intake, so only a newer parser could get here
        raise _not_relayed(body, dequeue_count, relay, message_id, f"invalid payload: {e}") from e
    if outcome.retryable:
        failed = sorted(d.receiver for d in outcome.deliveries if not d.result.ok and d.result.retryable)
        raise _not_relayed(body, dequeue_count, relay, message_id, f"not delivered to {', '.join(failed)}")
    return outcome


def _not_relayed(body: bytes, dequeue_count: int, relay: Relay, message_id: str, reason: str) -> NotRelayed:
    if dequeue_count >= MAX_DEQUEUE_COUNT:  # the host moves it to the poison queue when this raises
        from .poison import tell_operations

        tell_operations(relay, message_id, body, dequeue_count, f"{reason} (now in {QUEUE}-poison)")
    else:
        log.warning("message %s, try %d of %d: %s; trying again later", message_id, dequeue_count,
                    MAX_DEQUEUE_COUNT, reason)
    return NotRelayed(reason)


def keep_in_queue(inbox: StorageQueueInbox, inline_relay: Callable[[], Relay]) -> Callable[[bytes, Event], str]:
    """The intake's `keep`: put the alert on the queue. One too large for a queue message is relayed at
    once instead (as without a queue), rather than refused and lost."""

    def keep(body: bytes, event: Event) -> str:
        if fits(body):
            return inbox.put(body)
        log.warning("alert %s (%d bytes) is too large for a queue message; relaying it now", event.dedup_key, len(body))
        return process_inline(inline_relay())(body, event)

    return keep
