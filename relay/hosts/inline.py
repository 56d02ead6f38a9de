"""Relaying an alert at once, inside the webhook call, where no queue holds it: the Function App without
a Storage Queue, an alert too large for a queue message, and the backfill in that setup."""
from __future__ import annotations

from relay.hosts.intake import Keep
from relay.model import Event
from relay.pipeline import Relay, process_event


class NotYetDelivered(RuntimeError):
    """Inline processing could not deliver everything; the sender should try again later."""


def process_inline(relay: Relay) -> Keep:
    """A keep that relays at once: a retryable failure raises, which the intake answers with a 503 so that
    the Action Group sends the alert again."""

    def keep(body: bytes, event: Event) -> str:
        outcome = process_event(event, relay)
        if outcome.retryable:
            raise NotYetDelivered(event.dedup_key)
        return event.dedup_key

    return keep
