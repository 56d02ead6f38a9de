"""Pacing: no destination is called faster than it allows, and a Retry-After holds off every
message to that destination, not just the one that was refused.

Rates are per destination (a webhook URL, a mailbox), named by RateLimit.key; the pacer spaces
calls evenly (1 / per_second apart), and keeps each of a limit's longer windows within its count, which keeps a
rate-limited endpoint from answering 429 at all.
A caller that may not wait past a point (its retry budget) says so, and is told at once (HeldOff) instead.
A destination a delivery gave up on is held off and not waited for; after that it gets one attempt a call
until it answers well again.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from relay.channels import RateLimit


class HeldOff(Exception):
    """The destination may not be called for `seconds` more: longer than the caller may wait."""

    def __init__(self, seconds: float):
        super().__init__(f"held off for {seconds:.0f} s more")
        self.seconds = seconds


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._booked: dict[str, deque[float]] = {}  # the slots of destinations with windows, within the longest
        self._given_up: set[str] = set()  # destinations a delivery gave up on, not answered well since
        self._lock = threading.Lock()

    def wait(self, limit: RateLimit | None, most: float = math.inf) -> float:
        """Block until a call to this destination is allowed, and book it. Returns the seconds waited. Raises
        HeldOff, having waited for and booked nothing, when the caller may not wait that long (held_off)."""
        if limit is None:
            return 0.0
        with self._lock:
            now = self._clock()
            if held := self._held(limit.key, now, most):
                raise HeldOff(held)
            slot = self._within_windows(limit, max(now, self._next.get(limit.key, now)))
            if slot - now > most:  # a window is full for longer than the caller may wait
                raise HeldOff(slot - now)
            self._book(limit, slot)
            self._next[limit.key] = slot + 1.0 / limit.per_second
        waited = slot - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def _within_windows(self, limit: RateLimit, slot: float) -> float:
        """The first moment from `slot` at which every window of the limit has room. Slots of one destination only
        move forward, so each window's oldest booked calls are at the left."""
        booked = self._booked.get(limit.key, ())
        moved = bool(limit.windows)
        while moved:
            moved = False
            for count, seconds in limit.windows:
                inside = [t for t in booked if t > slot - seconds]
                if len(inside) >= count:
                    slot, moved = inside[len(inside) - count] + seconds, True
        return slot

    def _book(self, limit: RateLimit, slot: float) -> None:
        if not limit.windows:
            return
        booked = self._booked.setdefault(limit.key, deque())
        booked.append(slot)
        longest = max(seconds for _, seconds in limit.windows)
        while booked[0] <= slot - longest:
            booked.popleft()

    def held_off(self, limit: RateLimit | None, most: float = math.inf) -> float:
        """The seconds a caller who may wait `most` seconds would have to wait for the destination and may not,
        else 0. A destination given up on is not waited for at all: what comes for it while it is held off
        fails at once, and the first call after that is its one try."""
        if limit is None:
            return 0.0
        with self._lock:
            return self._held(limit.key, self._clock(), most)

    def _held(self, key: str, now: float, most: float) -> float:
        wait = self._next.get(key, now) - now
        return wait if wait > (0.0 if key in self._given_up else most) else 0.0

    def hold_off(self, limit: RateLimit | None, seconds: float) -> None:
        """The destination said "not before `seconds` from now" (Retry-After)."""
        if limit is None or seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._next[limit.key] = max(self._next.get(limit.key, until), until)

    def give_up(self, limit: RateLimit | None, seconds: float) -> None:
        """A delivery gave up on the destination: hold it off for `seconds`."""
        if limit is None:
            return
        self.hold_off(limit, seconds)
        with self._lock:
            self._given_up.add(limit.key)

    def given_up(self, limit: RateLimit | None) -> bool:
        """Whether a delivery gave up on the destination, and it has not answered well since."""
        if limit is None:
            return False
        with self._lock:
            return limit.key in self._given_up

    def answered(self, limit: RateLimit | None) -> None:
        """The destination answered (delivered, or refused for good): it works."""
        if limit is None:
            return
        with self._lock:
            self._given_up.discard(limit.key)
