"""AzureVmSource: asks Azure which of our VMs a maintenance event hits, and where each one stands.

For N impacted VMs over S subscriptions, the calls are
    token               1
    Resource Graph      ceil(N / 1,000) pages of one query: impacted resources joined to VM facts; beside
                        it, ceil(N / 1,000) pages of the VMs' maintenance records (records.py): a second
                        query, as Resource Graph allows a query one join across tables
    instance views      one per VM whose record does not answer for it (none yet, or one without what a
                        message needs), started as soon as that is known, paced by each subscription's
                        ARM read bucket (250, refilled 25 a second): the bucket, not the client, sets the pace
    scale set listings  one per scale set with impacted VMs (a page each 1,000 VMs or so)
    availability sets   one Resource Graph query for every set of the impacted VMs (a page each 1,000 of
                        their VMs), alongside the instance views: the impacted list leaves deallocated VMs
                        out, and a VM whose set's other VMs are all deallocated is in effect a single one
    Resource Health     one per listed subscription Resource Graph returned nothing for (0 when every
                        subscription has impacted VMs), or per subscription when Resource Graph fails
Whatever cannot be seen within the time budget (403, timeout, a throttle that does not clear) becomes
a gap; the VMs found are returned all the same. A set query that fails leaves its VMs listed, counted
in the gap of VMs whose status is not fully known; a records query that fails leaves its VMs to their
instance views. Each VM says where its state was read (Vm.state_source). Scale sets' VMs keep the state
their listing carries: it comes in the call that describes them anyway.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from relay.config import AzureSettings
from relay.enrich import (
    BY_IMPACTED_LIST,
    BY_RESOURCE,
    DENIED,
    FAILED,
    FROM_MAINTENANCE_RECORD,
    NO_LOOKUP,
    NOT_LISTED,
    TENANT,
    Gap,
    VmLookup,
    concerns_vms,
)
from relay.enrich.arm_ids import id_key, vm_from_id
from relay.enrich.azure import compute, graph, health, records
from relay.enrich.azure.clients import Azure, CredentialFactory, default_credential
from relay.enrich.azure.throttle import Throttle, Unavailable
from relay.enrich.state import others_deallocated
from relay.model import Event, EventKind, Vm

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
_REPORT_EVERY = 0.5  # seconds between progress lines about the maintenance status
LANE_WORKERS = 8  # calls in flight for one subscription: its read bucket, not the client, sets the pace


class AzureVmSource:
    """The VmSource of a relay with an `azure:` config. `stats` holds the last lookup's calls."""

    def __init__(self, settings: AzureSettings, credential: CredentialFactory | None = None,
                 connection_verify: str | None = None, progress: Progress | None = None):
        self.settings = settings
        self.credential = credential or default_credential(settings, connection_verify)
        self.connection_verify = connection_verify
        self.progress = progress or (lambda line: None)
        self.stats: dict = {}

    def affected_vms(self, event: Event) -> VmLookup:
        if event.kind is EventKind.RESOURCE_HEALTH and event.resource is not None:
            vm = vm_from_id(event.resource.resource_id)
            return VmLookup([vm] if vm else [], BY_RESOURCE)
        if event.kind is not EventKind.MAINTENANCE or not concerns_vms(event) or not event.tracking_id:
            return VmLookup([], NO_LOOKUP)
        return self.lookup(event.tracking_id, event.subscription_ids, event.maintenance_id)

    def lookup(self, tracking_id: str, subscriptions: tuple[str, ...] = (),
               maintenance_id: str | None = None) -> VmLookup:
        """The VMs impacted under `tracking_id` in these subscriptions and the configured ones; the alert's
        `maintenanceId`, when it has one, also finds the maintenance records that carry only it."""
        if not graph.TRACKING_ID.match(tracking_id):
            return VmLookup([], NO_LOOKUP)
        if maintenance_id is not None and not records.ID.match(maintenance_id):
            log.warning("maintenanceId %r is not an id; the maintenance records are found by trackingId only",
                        maintenance_id[:80])
            maintenance_id = None
        listed = list(dict.fromkeys(s.lower() for s in (*subscriptions, *self.settings.subscriptions)))
        try:
            return _run(lambda: _Lookup(self, tracking_id, maintenance_id, listed).run())
        except Exception:  # noqa: BLE001 - enrichment never holds an alert back
            log.exception("looking up the VMs of %s failed", tracking_id)
            return VmLookup([], BY_IMPACTED_LIST, (str(Gap(FAILED, TENANT)),))


def _run(start):
    """Run the coroutine `start()` makes to its end from synchronous code, also from a thread that
    already runs an event loop (then in a thread of its own)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is None:
        return asyncio.run(start())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, start()).result()


class _Lookup:
    def __init__(self, source: AzureVmSource, tracking_id: str, maintenance_id: str | None, subscriptions: list[str]):
        self.source, self.tracking_id, self.subscriptions = source, tracking_id, subscriptions
        self.maintenance_id = maintenance_id
        self.vms: dict[str, Vm] = {}  # by id key, in the order found
        self.listed = False  # Azure named an impacted VM, scale set or scale set VM
        self.book = records.Book()
        self.waiting: dict[str, tuple[Vm, str]] = {}  # VM id key: (VM, its id as named) until its record is known
        self.from_records = 0
        self.scale_sets: dict[str, tuple[str, set[str] | None]] = {}  # key: (id, wanted VM keys or None: all in a wave)
        self.missing: dict[tuple[str, str], None] = {}  # (reason, scope) whose VMs could not be listed
        self.unknown: dict[tuple[str, str], set[str]] = {}  # (reason, subscription): VMs without a status
        self.sets: dict[str, str] = {}  # VM id key: id of its availability set, as Resource Graph gave it
        self.members: dict[str, dict[str, str]] = {}  # set id key: {VM id key: power state}
        self.sets_unread: str | None = None  # why the sets' VMs could not be read
        self.lanes: dict[str, asyncio.Queue] = {}  # by subscription: VMs waiting for their status
        self.statuses = self.done = 0
        self.reported = 0.0

    async def run(self) -> VmLookup:
        settings = self.source.settings
        throttle = Throttle(settings.time_budget_seconds)
        started = time.monotonic()
        async with Azure(settings, self.source.credential, throttle, self.source.connection_verify) as azure:
            async with asyncio.TaskGroup() as tasks:
                reading_records = tasks.create_task(self._records(azure, tasks))
                fallback = await self._graph(azure, tasks)
                if self.sets:
                    tasks.create_task(self._set_members(azure))
                await asyncio.gather(*(self._health(azure, tasks, sub) for sub in fallback))
                for scale_set, wanted in self.scale_sets.values():
                    tasks.create_task(self._scale_set(azure, scale_set, wanted))
                await reading_records  # no VM is left waiting for its record
                for lane in self.lanes.values():
                    for _ in range(LANE_WORKERS):
                        lane.put_nowait(None)  # nothing more to come
            if self.statuses:
                self._report()
        self.source.stats = {"calls": dict(throttle.calls), "throttled": throttle.refused,
                             "seconds": time.monotonic() - started, "vms": len(self.vms),
                             "from records": self.from_records}
        self._mark_sets()
        gaps = [Gap(reason, scope) for reason, scope in self.missing]
        gaps += [Gap(reason, sub, len(keys)) for (reason, sub), keys in sorted(self.unknown.items())]
        method = BY_IMPACTED_LIST if self.listed or gaps else NOT_LISTED
        return VmLookup(list(self.vms.values()), method, tuple(str(gap) for gap in gaps))

    async def _graph(self, azure, tasks) -> list[str | None]:
        """Page through Resource Graph; the subscriptions (None: the tenant) to ask Resource Health."""
        tenant_wide = self.source.settings.tenant_wide
        seen, rows = set(), 0
        try:
            pages = graph.impacted_rows(azure, self.tracking_id, None if tenant_wide else self.subscriptions)
            async for number, page in _numbered(pages):
                rows += len(page)
                self.source.progress(f"resource graph: page {number} ({rows:,} rows)…")
                for row in page:
                    seen.add(str(row.get("subscriptionId") or "").lower())
                    self._target(azure, tasks, row.get("target") or "", row.get("targetType") or "", graph.vm_of(row))
                    if row.get("availabilitySet") and (key := id_key(row.get("target") or "")) in self.vms:
                        self.sets[key] = str(row["availabilitySet"])
                # Ask for the next page once the records have had as many: when Resource Graph's quota cannot
                # take every page in one window, the records come first, so the VMs without one are known and
                # their instance views go on while the other pages wait for the next window.
                await self.book.past(number)
        except Exception as error:  # noqa: BLE001
            log.warning("Resource Graph failed (%s); asking Resource Health instead", _reason(error))
            return [*self.subscriptions, *([None] if tenant_wide else [])]
        return [sub for sub in self.subscriptions if sub not in seen]

    async def _health(self, azure, tasks, subscription: str | None) -> None:
        self.source.progress(f"resource health: {subscription or 'tenant'}…")
        try:
            targets = await health.impacted_targets(azure, self.tracking_id, subscription)
        except Exception as error:  # noqa: BLE001
            if (reason := _reason(error)) is not None:
                self.missing[(reason, subscription or TENANT)] = None
            return
        for target, kind in targets:
            self._target(azure, tasks, target, kind, None)

    async def _records(self, azure, tasks) -> None:
        """Read the maintenance records beside the impacted list; each VM waiting for its record is then
        answered or sent to its instance view, and so is every VM still waiting when none are left."""
        subscriptions = None if self.source.settings.tenant_wide else self.subscriptions
        rows = 0
        try:
            async for page in records.record_rows(azure, self.tracking_id, self.maintenance_id, subscriptions):
                rows += len(page)
                self.source.progress(f"resource graph: maintenance records ({rows:,} rows)…")
                for row in page:
                    key = id_key(str(row.get("targetId") or ""))
                    self.book.add(key, row)
                    if key in self.waiting:
                        self._status_of(azure, tasks, key, *self.waiting.pop(key))
                await self.book.turned()
        except Exception as error:  # noqa: BLE001 - the instance views still tell
            log.warning("maintenance records could not be read (%s); asking each VM's instance view",
                        _reason(error) or FAILED)
        await self.book.turned(last=True)
        for key, (vm, target) in list(self.waiting.items()):
            self._status_of(azure, tasks, key, vm, target)
        self.waiting.clear()

    def _status_of(self, azure, tasks, key: str, vm: Vm, target: str) -> None:
        """A VM Resource Graph described takes its state from its record when that answers for it, else
        (once the record is known to be missing or lacking) from its instance view."""
        known = self.book.answer_for(key)
        if known is None:
            self.waiting[key] = (vm, target)
        elif known[0]:
            self.vms[key] = replace(vm, redeploy=known[1], state_source=FROM_MAINTENANCE_RECORD)
            self.from_records += 1
            self._progressed()
        else:
            self._lane(azure, tasks, vm.subscription_id.lower()).put_nowait((key, vm, target))

    def _target(self, azure, tasks, target: str, kind: str, vm: Vm | None) -> None:
        key = id_key(target)
        self.listed = True
        if kind == graph.VM_TYPE and key not in self.vms and (known := vm or vm_from_id(target)):
            self.vms[key] = known
            self.statuses += 1
            if vm is not None:
                self._status_of(azure, tasks, key, vm, target)
            else:
                self._lane(azure, tasks, known.subscription_id.lower()).put_nowait((key, None, target))
        elif kind == graph.SCALE_SET_VM_TYPE and (vm := compute.scale_set_vm_from_id(target)) and key not in self.vms:
            self.vms[key] = vm  # until its scale set's listing tells more
            scale_set = target[: key.rindex("/virtualmachines/")]
            _, wanted = self.scale_sets.setdefault(id_key(scale_set), (scale_set, set()))
            if wanted is not None:
                wanted.add(key)
        elif kind == graph.SCALE_SET_TYPE:
            self.scale_sets[key] = (target, None)

    def _lane(self, azure, tasks, subscription: str) -> asyncio.Queue:
        """The subscription's queue of VMs, worked by LANE_WORKERS calls at a time."""
        lane = self.lanes.get(subscription)
        if lane is None:
            lane = self.lanes[subscription] = asyncio.Queue()
            for _ in range(LANE_WORKERS):
                tasks.create_task(self._work(azure, lane))
        return lane

    async def _work(self, azure, lane: asyncio.Queue) -> None:
        while (job := await lane.get()) is not None:
            key, vm, target = job
            await self._status(azure, key, compute.with_status(azure, vm) if vm else compute.described(azure, target))

    async def _status(self, azure, key: str, call) -> None:
        try:
            self.vms[key] = await call
        except Exception as error:  # noqa: BLE001
            if (reason := _reason(error)) is not None:
                self._unknown(reason, key)
        self._progressed()

    def _progressed(self) -> None:
        self.done += 1
        if time.monotonic() - self.reported >= _REPORT_EVERY:
            self._report()

    def _report(self) -> None:
        self.reported = time.monotonic()
        self.source.progress(f"maintenance status: {self.done:,} of {self.statuses:,} VMs…")

    async def _scale_set(self, azure, scale_set: str, wanted: set[str] | None) -> None:
        try:
            found = await compute.scale_set_vms(azure, scale_set, wanted)
        except Exception as error:  # noqa: BLE001
            if (reason := _reason(error)) is not None:
                subscription = scale_set.split("/")[2].lower()
                if wanted:
                    self.unknown.setdefault((reason, subscription), set()).update(wanted)
                else:
                    self.missing[(reason, subscription)] = None
            found = []
        for vm in found:
            self.vms[id_key(vm.id)] = vm

    async def _set_members(self, azure) -> None:
        """The VMs of the impacted VMs' availability sets, with their power state."""
        set_ids = list({id_key(set_id): set_id for set_id in self.sets.values()}.values())
        self.source.progress(f"resource graph: the VMs of {len(set_ids):,} availability sets…")
        try:
            self.members = await graph.set_members(azure, set_ids)
        except Exception as error:  # noqa: BLE001
            self.sets_unread = _reason(error) or FAILED

    def _mark_sets(self) -> None:
        """Mark the VMs whose set's other VMs are all deallocated; when the sets could not be read, count
        their VMs as not fully known (once: a VM already without a status is not counted again)."""
        already_unknown = set().union(*self.unknown.values())
        for key, set_id in self.sets.items():
            if self.sets_unread is not None and key not in already_unknown:
                self._unknown(self.sets_unread, key)
            elif (members := self.members.get(id_key(set_id))) is not None:
                self.vms[key] = replace(self.vms[key], others_in_set_deallocated=others_deallocated(key, members))

    def _unknown(self, reason: str, key: str) -> None:
        self.unknown.setdefault((reason, self.vms[key].subscription_id.lower()), set()).add(key)


async def _numbered(pages):
    number = 0
    async for page in pages:
        number += 1
        yield number, page


def _reason(error: Exception) -> str | None:
    """The gap an error leaves: None for a 404 (the resource is gone: nothing is missing)."""
    if isinstance(error, Unavailable):
        return error.reason
    status = getattr(error, "status_code", None)
    if status == 404:
        return None
    if status == 403:
        return DENIED
    log.warning("Azure call failed: %s %s", type(error).__name__, status or "")
    return FAILED
