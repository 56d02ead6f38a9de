"""The inbox port: accepted alert bodies wait here until the pipeline has relayed them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Item:
    id: str
    body: bytes
    attempts: int  # deliveries of this item to the worker before this one


class Inbox(Protocol):
    def put(self, body: bytes) -> str: ...

    def take(self) -> Item | None:
        """The next item that is due, hidden from other takers until done() or retry_later()."""

    def done(self, item_id: str) -> None: ...

    def retry_later(self, item_id: str, delay_seconds: float) -> None: ...

    def give_up(self, item_id: str, reason: str) -> None:
        """Park an item that will never succeed; it stays visible for people to look at."""
