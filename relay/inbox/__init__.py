"""The inbox port: accepted alert bodies wait here until the pipeline has relayed them. An item the
worker gave up on is parked (poisoned), not dropped: people list it and put it back (`relay poison`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Item:
    id: str
    body: bytes
    attempts: int  # deliveries of this item to the worker before this one


@dataclass(frozen=True)
class Parked:
    id: str
    body: bytes
    attempts: int
    reason: str | None  # None where the parking side did not say (the Functions host never does)
    since: datetime | None  # SQLite: when the alert was accepted; Storage: when it reached the poison queue


class Inbox(Protocol):
    def put(self, body: bytes) -> str: ...

    def take(self) -> Item | None:
        """The next item that is due, hidden from other takers until done() or retry_later()."""

    def done(self, item_id: str) -> None: ...

    def retry_later(self, item_id: str, delay_seconds: float) -> None: ...

    def give_up(self, item_id: str, reason: str) -> None:
        """Park an item that will never succeed; it stays visible for people to look at."""


class PoisonStore(Protocol):
    parked_where: str  # where the parked items are, for people: a file, or the poison queue

    def parked(self, limit: int = 100) -> list[Parked]: ...

    def poisoned_count(self) -> int:
        """How many are parked (it may be more than parked() shows)."""

    def replay(self, item_id: str) -> str | None:
        """Put a parked item back in the inbox as a new item; its new id, or None if no such item."""

    def replay_all(self) -> list[str]: ...
