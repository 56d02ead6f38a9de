"""The throttles the emulator enforces, as documented (reference/azure.md §6).

    ARM subscription reads   token bucket per (principal, subscription): 250, refilled 25 a second
    ARM tenant reads         token bucket per principal: 250, refilled 25 a second
    ARM subscription writes  token bucket per (principal, subscription): 200, refilled 10 a second
    Compute Low Cost Get     per subscription 24,000, refilled 8,000 a minute; per VM 36, refilled 12 a minute
    Compute VMSS High Cost   per subscription 1,080, refilled 360 a minute; per scale set 30, refilled 10 a minute
    Compute Update VM        per subscription 1,500, refilled 500 a minute; per VM 12, refilled 4 a minute
                             (Perform Maintenance is one of its APIs)
    Resource Graph           15 queries per 5-second window per principal

Time scale: Compute's policies refill "a minute"; `Limits.minute` is how many seconds that minute
lasts here (60 as documented; tests set it shorter so a refill happens within a test). Any limit can
be made smaller to stand for other clients spending the same budget.

A refused call gets 429 with Retry-After (whole seconds, as ARM sends it) — except Resource Graph,
which sends only its quota headers, so a client must read x-ms-user-quota-resets-after. A request
that repeats a refused one (same x-ms-client-request-id) before its Retry-After has passed is counted
as unhonoured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    reads: tuple[float, float] = (250, 25.0)  # (capacity, refill a second)
    tenant_reads: tuple[float, float] = (250, 25.0)
    writes: tuple[float, float] = (200, 10.0)
    low_cost_get_subscription: tuple[float, float] = (24_000, 8_000)  # (capacity, refill a minute)
    low_cost_get_vm: tuple[float, float] = (36, 12)
    vmss_high_cost_subscription: tuple[float, float] = (1_080, 360)
    vmss_high_cost_scale_set: tuple[float, float] = (30, 10)
    update_vm_subscription: tuple[float, float] = (1_500, 500)
    update_vm: tuple[float, float] = (12, 4)
    graph_queries: int = 15
    graph_window: float = 5.0
    minute: float = 60.0  # seconds a Compute "minute" lasts

    def bucket(self, name: str, now: float) -> Bucket:
        capacity, rate = getattr(self, name)
        per_second = rate if name in ("reads", "tenant_reads", "writes") else rate / self.minute
        return Bucket(capacity, per_second, now)


class Bucket:
    def __init__(self, capacity: float, per_second: float, now: float):
        self.capacity, self.rate, self.tokens, self.stamp = capacity, per_second, float(capacity), now

    def take(self, now: float) -> float:
        """0 when a token was taken; else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def remaining(self) -> int:
        return int(self.tokens)


class GraphQuota:
    """Resource Graph's window: `queries` a window that starts with the first query after a reset."""

    def __init__(self, queries: int, window: float):
        self.queries, self.window = queries, window
        self.left, self.resets = queries, 0.0

    def take(self, now: float) -> bool:
        if now >= self.resets:
            self.left, self.resets = self.queries, now + self.window
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def headers(self, now: float) -> dict[str, str]:
        seconds = max(0.0, self.resets - now)
        return {
            "x-ms-user-quota-remaining": str(self.left),
            "x-ms-user-quota-resets-after": f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}",
        }


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
