"""The Function App's queue path: the intake puts each alert on the Storage Queue, the queue trigger relays it.

The Functions host does the inbox's bookkeeping: a trigger that returns deletes the message; one that
raises leaves it to come back after host.json's visibilityTimeout. On the last try (relay.inbox.retry.MAX_TRIES, host.json's maxDequeueCount) the
relay parks the alert itself: it puts a copy on `<queue>-poison`, tells the operations receivers the
copy's id (the one `relay poison replay` takes; the host's own copy would get an id nobody was told),
and returns, so the host deletes the original. A try that dies before that is parked by the host, and
the announcing timer (FunctionHost.announce_parked) tells about it instead.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from relay.alerts import PayloadError
from relay.hosts.parked import tell_operations
from relay.inbox.retry import MAX_TRIES
from relay.inbox.storage import QUEUE
from relay.pipeline import Outcome, Relay, process

log = logging.getLogger("relay.queue")


class NotRelayed(RuntimeError):
    """Raised to the Functions host so that it keeps the message: tried again, or poisoned after the last try."""


def handle_message(body: bytes, dequeue_count: int, relay: Relay, message_id: str = "",
                   park: Callable[[bytes], str] | None = None) -> Outcome | None:
    """Relay one queue message. Returns when it is finished with: delivered, duplicate, failed for good,
    or parked with `park` on its last try (None then). Raises NotRelayed when a later try may still
    succeed, or when it must be left to the host to park."""
    try:
        outcome = process(body, relay)
    except PayloadError as e:  # checked at intake, so only a newer parser could get here
        reason = f"invalid payload: {e}"
    else:
        if not outcome.retryable:
            return outcome
        reason = outcome.why_retry
    if dequeue_count < MAX_TRIES:
        log.warning("message %s, try %d of %d: %s; trying again later", message_id, dequeue_count, MAX_TRIES, reason)
        raise NotRelayed(reason)
    if park is None:
        log.error("message %s, last try: %s; the host now parks it in %s-poison", message_id, reason, QUEUE)
        raise NotRelayed(reason)
    parked_id = park(body)  # raises when Storage fails: the host then parks it, and the timer tells
    tell_operations(relay, parked_id, body, dequeue_count, f"{reason} (now in {QUEUE}-poison)")
    return None
