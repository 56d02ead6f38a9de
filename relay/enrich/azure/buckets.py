"""Token buckets that hand out reservations, as our picture of Azure's own buckets.

Azure takes a token when a call arrives; we book it when the call is queued, which can be a while
earlier. Until the first answer drawing on a bucket comes back, the full bucket is all we spend;
then we count its refill from when that first call left, less one token for its time on the way
(Azure's bucket starts when the call arrives).
"""
from __future__ import annotations

import asyncio


class Bucket:
    """A token bucket that hands out reservations: each caller learns when its token is due.

    Calls booked but not yet answered (`pending`) may be tokens Azure still holds, so our count
    refills only to capacity minus them: a full Azure bucket does not refill further, and slots
    booked on that refill move back. A hold (after a 429) pushes every booked slot back by its length.
    """

    def __init__(self, capacity: float, per_second: float, now: float):
        self.capacity, self.rate = capacity, per_second
        self.tokens, self.stamp, self.pending = float(capacity), now, 0
        self.shifts = [0.0]  # total hold time before each hold (epoch = its index)
        self.first_sent: float | None = None
        self.started = asyncio.Event()

    @property
    def epoch(self) -> int:
        return len(self.shifts) - 1

    def reserve(self, now: float) -> float | None:
        """Book a token; the seconds until it may be spent. None: the bucket is spent and has not
        started refilling yet; try again once it has."""
        if not self.started.is_set():
            if self.tokens < 1:
                return None
            wait = 0.0
        else:
            self._refill(now)
            wait = (self.stamp - now) + max(0.0, 1 - self.tokens) / self.rate
        self.tokens -= 1
        self.pending += 1
        return wait

    def _refill(self, now: float) -> None:
        if now <= self.stamp:
            return
        gained, room = (now - self.stamp) * self.rate, max(0.0, self.capacity - self.pending - self.tokens)
        if gained > room and self.tokens < 0:
            # Azure's bucket filled up while booked calls waited to be sent: the refill the later
            # slots counted on is lost, so they move back by as much.
            self.shifts.append(self.shifts[-1] + (gained - room) / self.rate)
        self.tokens += min(gained, room)
        self.stamp = now

    def refund(self) -> None:
        self.tokens += 1
        self.pending -= 1

    def sent(self, now: float) -> None:
        if self.first_sent is None:
            self.first_sent = now

    def answered(self) -> None:
        self.pending -= 1

    def start(self, now: float) -> None:
        if not self.started.is_set():
            began = now if self.first_sent is None else min(now, self.first_sent + 1 / self.rate)
            self.stamp = max(self.stamp, began)
            self.started.set()

    def sync(self, remaining: float, now: float) -> None:
        """Azure says only `remaining` are left: believe it when it is fewer than we think."""
        self._refill(now)
        self.tokens = min(self.tokens, remaining)

    def hold(self, until: float, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)
        self.shifts.append(self.shifts[-1] + max(0.0, until - max(now, self.stamp)))
        self.stamp = max(self.stamp, until)

    def shift_since(self, epoch: int) -> float:
        return self.shifts[-1] - self.shifts[epoch]


class Window(Bucket):
    """Resource Graph's quota: a number of queries until a reset time, both told by its headers.

    Queries sent side by side (the impacted VMs and their maintenance records) share it: what an answer
    says is left counts the calls still under way as spent, and once nothing is left the next calls wait
    for the reset it told of. A new window's size is unknown until its first answer, so the few calls that
    waited for it go at once.
    """

    def __init__(self, now: float):
        super().__init__(1, 1.0, now)
        self.left: int | None = None  # unknown until Resource Graph says
        self.resets = now  # when the window it last told of ends
        self.under_way = 0  # booked and not answered yet
        self.started.set()

    def reserve(self, now: float) -> float:
        if self.left is not None:
            if self.left > 0:
                self.left -= 1
            else:  # spent (or over, when `resets` is past): wait for the next window
                self.stamp = max(self.stamp, self.resets)
                self.left = None
        self.under_way += 1
        return max(0.0, self.stamp - now)

    def refund(self) -> None:
        self.under_way -= 1
        if self.left is not None:
            self.left += 1

    def sent(self, now: float) -> None:
        pass

    def answered(self) -> None:
        self.under_way -= 1

    def quota(self, remaining: int, resets_after: float, now: float) -> None:
        self.resets = now + resets_after
        self.left = remaining - self.under_way
        if remaining <= 0:
            self.stamp = max(self.stamp, self.resets)
