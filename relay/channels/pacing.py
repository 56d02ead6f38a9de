"""Pacing: no destination is called faster than it allows, and a Retry-After holds off every
message to that destination, not just the one that was refused.

Rates are per destination (a webhook URL, a mailbox), named by RateLimit.key; the pacer spaces
calls evenly (1 / per_second apart), which keeps a rate-limited endpoint from answering 429 at all.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from relay.channels import RateLimit


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, limit: RateLimit | None) -> float:
        """Block until a call to this destination is allowed, and book it. Returns the seconds waited."""
        if limit is None:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(limit.key, now))
            self._next[limit.key] = slot + 1.0 / limit.per_second
        waited = slot - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def hold_off(self, limit: RateLimit | None, seconds: float) -> None:
        """The destination said "not before `seconds` from now" (Retry-After)."""
        if limit is None or seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._next[limit.key] = max(self._next.get(limit.key, until), until)
