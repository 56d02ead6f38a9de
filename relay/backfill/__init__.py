"""Backfill: the Service Health news an Action Group did not deliver, found in Azure and put in the inbox.

An Action Group that got no answer stops calling for 15 minutes, and an alert it gave up on is not
sent again. So, for each subscription, from its watermark (less OVERLAP: the Activity Log lags) to now:

1. read the Activity Log and the Resource Health events (read.py); both must be read, or nothing of
   the subscription is queued and its watermark stays;
2. keep the ServiceHealth records and the PlannedMaintenance events, as alert bodies (convert.py), of
   the services and regions `azure.backfill` names (the alert rule's own filter: the log has every event);
3. skip what the ledger has settled: a communication it admitted with no delivery left to retry; a
   Resource Health event whose trackingId has any communication in the ledger, or in this run's Activity
   Log (the Service Health path covers it);
4. hand the rest to `keep` (the inbox, or inline relaying) and then advance the watermark to now.

    convert.py  Activity Log records and Resource Health events → alert bodies (pure)
    read.py     the two list calls and why one failed

The Function App's timer is FunctionHost.backfill; the command is `relay backfill`.

Nothing here loads an Azure SDK until Azure is read.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from relay.alerts import PayloadError, parse_alert
from relay.backfill import convert
from relay.config import AzureSettings
from relay.model import Event
from relay.store import Ledger

log = logging.getLogger("relay.backfill")

FIRST_RUN = timedelta(hours=24)  # how far back a subscription without a watermark is read
OVERLAP = timedelta(minutes=30)  # read again before the watermark: records can appear that late in the log
RETENTION = timedelta(days=90)  # the Activity Log keeps 90 days
BUDGET_SECONDS = 240.0  # for all reads of one run, well inside the Functions timeout
_NEVER = datetime.min.replace(tzinfo=UTC)

Keep = Callable[[bytes, Event], str]  # relay.hosts.intake's keep: into the inbox (or relayed at once); returns an id
Progress = Callable[[str], None]


@dataclass
class Found:
    """One subscription's run: `queued` lists what went to `keep` (or would, in a dry run)."""

    subscription: str
    start: datetime
    seen: int = 0
    known: int = 0
    queued: list[Event] = field(default_factory=list)
    outside: int = 0  # of services or regions azure.backfill leaves out
    unreadable: int = 0  # bodies our own parser refused (say, over 256 KB): logged, not queued
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"{self.subscription}: {self.error}"
        line = (f"{self.subscription}: {self.seen} Service Health event(s) since {self.start:%Y-%m-%d %H:%M} UTC,"
                f" {self.known} already known, {len(self.queued)} queued")
        line += f", {self.outside} outside azure.backfill's services and regions" if self.outside else ""
        return line + (f", {self.unreadable} unreadable (see the log)" if self.unreadable else "")


@dataclass
class Report:
    end: datetime
    subscriptions: list[Found]

    @property
    def errors(self) -> dict[str, str]:
        return {found.subscription: found.error for found in self.subscriptions if found.error}

    def totals(self) -> str:
        seen = sum(f.seen for f in self.subscriptions)
        known = sum(f.known for f in self.subscriptions)
        queued = sum(len(f.queued) for f in self.subscriptions)
        return (f"{seen} seen, {known} already known, {queued} queued,"
                f" {len(self.errors)} of {len(self.subscriptions)} subscription(s) failed")


class BackfillIncomplete(RuntimeError):
    """Some subscription could not be read or queued; the others were."""

    def __init__(self, report: Report):
        super().__init__(report.totals())
        self.report = report


def watermark_name(subscription: str) -> str:
    return f"backfill/{subscription.lower()}"


def find_missed(settings: AzureSettings, subscriptions: Iterable[str], ledger: Ledger, keep: Keep | None,
                now: datetime, *, since: datetime | None = None, credential=None, connection_verify: str | None = None,
                budget_seconds: float = BUDGET_SECONDS, progress: Progress | None = None) -> Report:
    """Queue what the ledger lacks, per subscription, from `since` (else the watermark less OVERLAP, else
    FIRST_RUN ago) to `now`. `keep` None is a dry run: nothing is queued and no watermark moves.
    `credential` is a factory of an async azure-identity credential (default: DefaultAzureCredential);
    `progress` hears what is being read."""
    progress = progress or (lambda line: None)
    end = now.astimezone(UTC).replace(microsecond=0)
    found = [Found(sub, _start(ledger, sub, since, end)) for sub in dict.fromkeys(s.lower() for s in subscriptions)]
    read_all = _read_all(settings, found, end, credential, connection_verify, budget_seconds, progress)
    readable = [(sub, *records) for sub, records in zip(found, asyncio.run(read_all), strict=True) if sub.error is None]
    run = _Run(ledger, keep, settings)
    # Every Activity Log first: a Resource Health event is only queued for a trackingId no subscription's log has.
    for sub, activity, _ in readable:
        run.queue(sub, [convert.activity_log_alert(r) for r in activity if convert.is_service_health(r)], False)
    for sub, _, events in readable:
        run.queue(sub, [convert.health_event_alert(e, sub.subscription) for e in events
                        if convert.is_planned_maintenance(e) and convert.updated_within(e, sub.start, end)], True)
    for sub in found:
        if sub.error is None and keep is not None:
            ledger.advance_watermark(watermark_name(sub.subscription), end)
    return Report(end, found)


def _start(ledger: Ledger, subscription: str, since: datetime | None, end: datetime) -> datetime:
    if since is not None:
        start = since
    else:
        mark = ledger.watermark(watermark_name(subscription))
        start = mark - OVERLAP if mark else end - FIRST_RUN
    return max(start.astimezone(UTC), end - RETENTION)


async def _read_all(settings: AzureSettings, found: list[Found], end: datetime, credential, connection_verify,
                    budget_seconds: float, progress: Progress) -> list[tuple[list, list]]:
    """(Activity Log records, Resource Health events) of each subscription; ([], []) and its error set
    for one that could not be read."""
    from relay.backfill import read
    from relay.enrich.azure.clients import default_credential
    from relay.enrich.azure.throttle import Throttle

    async def one(azure: read.Clients, sub: Found) -> tuple[list, list]:
        progress(f"{sub.subscription}: reading from {sub.start:%Y-%m-%d %H:%M} UTC…")
        try:
            return (await read.activity_log(azure, sub.subscription, sub.start, end),
                    await read.health_events(azure, sub.subscription, sub.start))
        except Exception as error:  # noqa: BLE001 - one subscription's failure must not stop the others
            sub.error = f"not read: {read.reason(error)}"
            return [], []

    credential = credential or default_credential(settings, connection_verify)
    async with read.Clients(settings, credential, Throttle(budget_seconds), connection_verify) as azure:
        return await asyncio.gather(*(one(azure, sub) for sub in found))


class _Run:
    """What this run queued and which threads it saw, over all subscriptions: the same communication is
    in the log of every subscription it concerns."""

    def __init__(self, ledger: Ledger, keep: Keep | None, settings: AzureSettings):
        self.ledger, self.keep = ledger, keep
        self.services = {s.lower() for s in settings.backfill_services}
        self.regions = {r.lower() for r in settings.backfill_regions}
        self.queued: set[str] = set()  # dedup keys
        self.covered: set[str] = set()  # thread keys seen (known or queued)

    def queue(self, sub: Found, bodies: list[bytes], from_health: bool) -> None:
        """Each body the ledger and this run lack goes to `keep`, oldest first, so a thread's news is told in
        order; the first that cannot be kept stops the subscription."""
        if sub.error is not None:
            return
        events = []
        for body in bodies:
            try:
                events.append((parse_alert(body), body))
            except PayloadError as error:
                log.error("backfill of %s: an event the relay cannot read: %s", sub.subscription, error)
                sub.unreadable += 1
        for event, body in sorted(events, key=lambda pair: pair[0].event_time or _NEVER):
            sub.seen += 1
            if not self._in_scope(event):
                sub.outside += 1
                continue
            if self._known(event, from_health):
                sub.known += 1
            elif not self._keep(sub, body, event):
                return
            self.covered.add(event.thread_key)

    def _in_scope(self, event: Event) -> bool:
        def named(wanted: set[str], names: tuple[str, ...]) -> bool:
            return not wanted or any(name.lower() in wanted for name in names)

        return named(self.services, event.services) and named(self.regions, event.regions)

    def _known(self, event: Event, from_health: bool) -> bool:
        if from_health:
            return event.thread_key in self.covered or self.ledger.knows_thread(event.thread_key)
        return event.dedup_key in self.queued or self.ledger.settled(event)

    def _keep(self, sub: Found, body: bytes, event: Event) -> bool:
        if self.keep is not None:
            try:
                self.keep(body, event)
            except Exception as error:  # noqa: BLE001 - the watermark stays, so the next run tries again
                log.error("backfill of %s: could not queue %s: %s", sub.subscription, event.dedup_key,
                          type(error).__name__)
                sub.error = f"could not queue ({type(error).__name__})"
                return False
        sub.queued.append(event)
        self.queued.add(event.dedup_key)
        return True

