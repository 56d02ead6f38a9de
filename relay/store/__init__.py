"""The ledger port: what was seen, what each thread said last, and which deliveries are done."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


class Ledger(Protocol):
    def admit(self, event: Event, receivers: list[str], now: datetime) -> Admission:
        """Record the communication once; say whether it is new and what it updates."""

    def delivered(self, notification_key: str, receiver: str) -> bool: ...

    def record_delivery(self, notification_key: str, receiver: str, result: SendResult, attempts: int) -> None: ...

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None: ...

    def thread_reference(self, thread_key: str, receiver: str) -> str | None:
        """Where the thread's first message went for this receiver (e.g. a Slack ts), if known."""

    def close(self) -> None: ...
