"""Every call paced by the throttle Azure documents for it, and retried when Azure refuses it.

    Subscription reads (ARM)      250 a subscription, refilled 25 a second        token bucket
    Tenant reads (ARM)            250, refilled 25 a second                       token bucket
    Compute VMSS High Cost Get    1,080 a subscription, refilled 360 a minute;    List scale set VMs
                                  30 a scale set, refilled 10 a minute
    Resource Graph                15 queries in 5 s a user ("subject to change"): paced by the
                                  x-ms-user-quota-remaining and -resets-after headers it sends back

Compute's Low Cost Get (Get VM, Instance View: 24,000 a subscription, refilled 8,000 a minute) is not
paced here: within the longest time budget (600 s) the read bucket lets through at most
250 + 25 × 600 = 15,250 calls a subscription, so it empties first. Its 429s are honoured like any.

A call takes a token from every bucket it draws on before it leaves (buckets.py), so a lone client
never sees a 429. `x-ms-ratelimit-remaining-subscription-reads` (and -tenant-reads) lower our count
when others spend the same budget; a 429 holds the call's buckets for its Retry-After, for POSTs too
(azure-core's RetryPolicy does not retry a POST without one). Nothing waits past the deadline: a
call that would raises Unavailable, and the caller reports a gap instead.

ThrottlePolicy stands where azure-core's RetryPolicy stands in each SDK client's pipeline.
"""
from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable

from relay.enrich import FAILED, THROTTLED, TIMEOUT
from relay.enrich.azure.buckets import Bucket, Window

RETRIES = 3  # for 5xx, 408 and dropped connections; a 429 is retried for as long as the budget allows
CONCURRENCY = 64  # calls in flight at once
_RETRYABLE = (408, 500, 502, 503, 504)

_BUCKETS = {  # kind: (capacity, tokens a second)
    "reads": (250, 25.0),
    "tenant-reads": (250, 25.0),
    "vmss-high-cost-get": (1_080, 360 / 60),
    "scale-set-high-cost-get": (30, 10 / 60),
}
_REMAINING_HEADERS = {
    "x-ms-ratelimit-remaining-subscription-reads": "reads",
    "x-ms-ratelimit-remaining-tenant-reads": "tenant-reads",
}
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_SCALE_SET = re.compile(
    r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/virtualmachinescalesets/[^/]+)/virtualmachines$"
)


class Unavailable(Exception):
    """A call given up on: THROTTLED, TIMEOUT or FAILED (relay.enrich reasons)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Throttle:
    """The pacing state of one lookup: buckets by (kind, scope), a deadline, and what happened."""

    def __init__(self, budget_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.deadline = clock() + budget_seconds
        self.calls: Counter[str] = Counter()  # by kind of call
        self.refused = 0  # 429s received (each one honoured before the next call that shares a bucket)
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._in_flight = asyncio.Semaphore(CONCURRENCY)

    def in_flight(self, kind: str):
        """What bounds the calls in flight: Resource Graph's few pages go ahead of the crowd of
        instance views, so every VM is known early."""
        return contextlib.nullcontext() if kind == "resource graph" else self._in_flight

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def bucket(self, key: tuple[str, str]) -> Bucket:
        found = self._buckets.get(key)
        if found is None:
            now = self.clock()
            found = Window(now) if key[0] == "graph" else Bucket(*_BUCKETS[key[0]], now)
            self._buckets[key] = found
        return found

    async def take(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            bucket = self.bucket(key)
            wait = bucket.reserve(self.clock())
            while wait is None:  # spent before any answer came back: wait for one
                try:
                    await asyncio.wait_for(bucket.started.wait(), max(0.0, self.remaining()))
                except TimeoutError:
                    raise Unavailable(TIMEOUT) from None
                wait = bucket.reserve(self.clock())
            slot, epoch = self.clock() + wait, bucket.epoch
            while True:
                if slot > self.deadline:
                    bucket.refund()
                    raise Unavailable(THROTTLED)
                if slot > self.clock():
                    await asyncio.sleep(slot - self.clock())
                if bucket.epoch == epoch:
                    break
                slot, epoch = slot + bucket.shift_since(epoch), bucket.epoch

    def sent(self, keys: list[tuple[str, str]]) -> None:
        now = self.clock()
        for key in keys:
            self.bucket(key).sent(now)

    def answered(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self.bucket(key).answered()

    def observe(self, keys: list[tuple[str, str]], headers) -> None:
        now = self.clock()
        for key in keys:
            self.bucket(key).start(now)
            if key[0] == "graph":
                remaining = headers.get("x-ms-user-quota-remaining")
                if remaining is not None and remaining.strip().lstrip("-").isdigit():
                    resets = _duration(headers.get("x-ms-user-quota-resets-after", "")) or 5.0
                    self.bucket(key).quota(int(remaining), resets, now)  # type: ignore[attr-defined]
        for header, kind in _REMAINING_HEADERS.items():
            value = headers.get(header)
            if value is not None and value.strip().isdigit():
                for key in keys:
                    if key[0] == kind:
                        self.bucket(key).sync(int(value), now)

    def hold(self, keys: list[tuple[str, str]], seconds: float) -> None:
        now = self.clock()
        for key in keys:
            self.bucket(key).hold(now + seconds, now)

    async def pause(self, seconds: float, reason: str) -> None:
        if self.clock() + seconds > self.deadline:
            raise Unavailable(reason)
        await asyncio.sleep(seconds)


def classify(method: str, url: str) -> tuple[str, list[tuple[str, str]]]:
    """What kind of call this is, and the buckets it draws on."""
    path = url.split("?", 1)[0].split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1].lower() if "/" in path else "/"
    if path.endswith("/providers/microsoft.resourcegraph/resources"):
        return "resource graph", [("graph", "")]
    subscription = _SUBSCRIPTION.match(path)
    if subscription is None:
        return "tenant impacted resources", [("tenant-reads", "")]
    sub = subscription.group(1)
    keys = [("reads", sub)]  # every call we make below a subscription is a read
    if "/providers/microsoft.resourcehealth/" in path:
        return "impacted resources", keys
    scale_set = _SCALE_SET.match(path)
    if scale_set:
        return "scale set VMs", keys + [("vmss-high-cost-get", sub), ("scale-set-high-cost-get", scale_set.group(1))]
    return ("instance view" if path.endswith("/instanceview") else "virtual machine"), keys


def retry_after(headers) -> float | None:
    """Retry-After in seconds (a number or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def _duration(text: str) -> float:
    """hh:mm:ss (seconds may have a fraction) in seconds; 0 when unreadable."""
    parts = text.strip().split(":")
    try:
        return sum(float(part) * 60**i for i, part in enumerate(reversed(parts))) if len(parts) == 3 else 0.0
    except ValueError:
        return 0.0


def backoff(attempt: int) -> float:
    return min(0.5 * 2 ** (attempt - 1), 4.0)


def policy(throttle: Throttle):
    """The azure-core policy that paces and retries every call of a client (built lazily: azure-core
    loads only when Azure is used)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.core.pipeline.policies import AsyncHTTPPolicy

    class ThrottlePolicy(AsyncHTTPPolicy):
        async def send(self, request):
            http = request.http_request
            # What azure-core's RequestIdPolicy does (our lean pipeline has none): an id given by the caller
            # (long-running operations pass their first call's on) is taken out of the options and sent.
            given = request.context.options.pop("request_id", None)
            http.headers.setdefault("x-ms-client-request-id", given or str(uuid.uuid4()))
            kind, keys = classify(http.method, http.url)
            attempt = 0
            while True:
                await throttle.take(keys)
                async with throttle.in_flight(kind):
                    throttle.calls[kind] += 1
                    throttle.sent(keys)
                    try:
                        response = await asyncio.wait_for(self.next.send(request), max(0.0, throttle.remaining()))
                    except TimeoutError:
                        raise Unavailable(TIMEOUT) from None
                    except (ServiceRequestError, ServiceResponseError):
                        attempt += 1
                        if attempt > RETRIES:
                            raise Unavailable(FAILED) from None
                        response = None
                    finally:
                        throttle.answered(keys)
                if response is None:
                    await throttle.pause(backoff(attempt), FAILED)
                    continue
                status, headers = response.http_response.status_code, response.http_response.headers
                throttle.observe(keys, headers)
                if status != 429 and (status not in _RETRYABLE or attempt >= RETRIES):
                    return response
                await _release(response)
                attempt += 1
                if status == 429:  # Resource Graph may send no Retry-After: its quota headers tell instead
                    throttle.refused += 1
                    quota = _duration(headers.get("x-ms-user-quota-resets-after", ""))
                    throttle.hold(keys, retry_after(headers) or quota or backoff(attempt))  # take() waits it out
                else:
                    await throttle.pause(retry_after(headers) or backoff(attempt), FAILED)

    return ThrottlePolicy()


async def _release(response) -> None:
    """Read a refused answer's body, so its connection goes back to the pool."""
    try:
        await response.http_response.read()
    except Exception:  # noqa: BLE001 - the answer is dropped anyway
        pass
