"""The ledger port: what was seen, what each thread said last, which deliveries are done, and how far
each backfill has read."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from ..model import Event, PriorNotice, SendResult


class Seen(StrEnum):
    NEW = "new"  # first time this communication arrives
    RESUMED = "resumed"  # seen before, but some deliveries never finished
    DUPLICATE = "duplicate"  # seen before and fully delivered: send nothing


@dataclass(frozen=True)
class Admission:
    seen: Seen
    prior: PriorNotice | None  # the thread's previous notification, fixed at first admission
    superseded_by: str | None = None  # the stage of a newer communication of the thread, if one was seen


# Deliver once: each (notification, receiver) is claimed, sent, then marked. A redelivered or concurrently
# processed alert finds the mark (nothing to send) or a live claim (someone else is sending; try later).
#
# Where a repeat can still happen: the channel accepted the message, and the mark was never written.
#   - The worker dies (killed, host timeout, instance recycled) between the destination's answer and
#     record_delivery: the claim expires after its lease, and the next try sends again. The window is
#     one ledger write after the answer arrives, a few milliseconds (one round trip to Table Storage).
#   - The destination accepted but its answer never arrived (timeout, reset): that counts as a failure
#     and is retried, so the message can appear twice. Webhooks (Teams, Slack) take no idempotency key.
#   - A delivery that outlives its lease (pipeline: retry budget plus a margin) can be claimed again by
#     another worker while the first is still sending.
# Every other crash point repeats nothing: before the send, nothing went out (the next try waits for
# the claim to expire); after the mark, the ledger says delivered.


def watermark_text(when: datetime) -> str:
    """A watermark as stored: fixed-width UTC text, so that comparing the texts compares the times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class Ledger(Protocol):
    def admit(self, event: Event, receivers: list[str], now: datetime) -> Admission:
        """Record the communication once; say whether it is new and what it updates."""

    def delivered(self, notification_key: str, receiver: str) -> bool: ...

    def claim(self, notification_key: str, receiver: str, holder: str, lease_seconds: float) -> bool:
        """May `holder` send this notification to this receiver now? True, and held for lease_seconds, when
        no final delivery is recorded and no other holder's claim is live; False otherwise. The holder
        itself may claim again (renew). A claim whose holder was a process of this machine that has died
        is not live (relay/liveness.py). record_delivery releases the claim."""

    def record_delivery(self, notification_key: str, receiver: str, result: SendResult, attempts: int) -> None:
        """Mark the delivery (final when it worked or can never work) and release its claim.
        The first final result stays: a late, slower worker cannot turn it back into "not delivered"."""

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None: ...

    def thread_reference(self, thread_key: str, receiver: str) -> str | None:
        """Where the thread's first message went for this receiver (e.g. a Slack ts), if known."""

    def knows(self, event: Event) -> bool:
        """Whether this communication was admitted (the event, not just its dedup key: the Table ledger
        partitions communications by thread)."""

    def knows_thread(self, thread_key: str) -> bool:
        """Whether any communication of this thread was admitted."""

    def watermark(self, name: str) -> datetime | None:
        """The time a reader (e.g. the backfill of one subscription) has read up to, if it ever did."""

    def advance_watermark(self, name: str, value: datetime) -> None:
        """Move the watermark forward to `value`; an earlier value leaves it where it is, so a slower
        concurrent run cannot move it back."""

    def close(self) -> None: ...
