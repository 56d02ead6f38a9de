"""What managers decide this week, as plain facts: the managers' email (relay/render/email.py) and the digest
(relay/digest/) both show it; the wording is in templates/common/decisions.j2.

    decisions(rows, now, tags) -> Decisions

Within a week of `now`:
- production single instances that go down, and when (production by the environment tag, ManagerTags);
- VMs stuck in a retry (Retry now, Retry later), with Azure's reason;
- VMs whose dynamic public IP would change if they were maintained by self-service;
- days (in JST) on which several self-service deadlines fall.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from relay.enrich.state import RETRYING, TO_REBOOT
from relay.model import MaintenanceState, ManagerTags, Risk, Window
from relay.render.times import to_jst
from relay.render.view import VmRow

WEEK = timedelta(days=7)  # "this week": what falls within this much of the message's clock
BUSY_DAY = 2  # this many self-service deadlines on one day (JST) make it a day to plan

# Self-service is, or will again be, a choice: a dynamic public IP may change on it.
_SELF_SERVICE = frozenset(s.value for s in (MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW,
                                            MaintenanceState.RETRY_LATER))
_SINGLE = frozenset(r.value for r in (Risk.SINGLE_INSTANCE, Risk.ISOLATED))  # the reboot is downtime

@dataclass(frozen=True)
class DecisionVm:
    """A VM as the decisions name it: its row, and the values of its owner and environment tags ("" without)."""

    row: VmRow
    owner: str
    environment: str
    due: datetime | None = None  # when it next asks for something: its deadline, or Azure's window starting


@dataclass(frozen=True)
class BusyDay:
    """A day (JST) on which several self-service deadlines fall."""

    day: date
    vms: tuple[DecisionVm, ...]  # by deadline

    @property
    def first(self) -> datetime | None:
        return self.vms[0].row.deadline

    @property
    def last(self) -> datetime | None:
        return self.vms[-1].row.deadline

    @property
    def deadlines(self) -> Window:
        """From the first deadline of the day to the last."""
        return Window(self.first, self.last)


@dataclass(frozen=True)
class Decisions:
    now: datetime
    tags: ManagerTags
    production: tuple[DecisionVm, ...]  # production single instances that go down by `until`, soonest first
    retries: tuple[DecisionVm, ...]  # Retry now / Retry later with a deadline or a reboot by `until`
    dynamic_ips: tuple[DecisionVm, ...]  # a dynamic public IP, and the self-service window closing by `until`
    busy_days: tuple[BusyDay, ...]
    untagged_single: int  # single instances going down by `until` without the environment tag: maybe production

    @property
    def until(self) -> datetime:
        """The end of "this week"."""
        return self.now + WEEK

    @property
    def count(self) -> int:
        """How many things there are to decide: each VM listed, and each busy day."""
        return len(self.production) + len(self.retries) + len(self.dynamic_ips) + len(self.busy_days)

    @property
    def empty(self) -> bool:
        return not self.count and not self.untagged_single


def decisions(rows: Iterable[VmRow], now: datetime, tags: ManagerTags) -> Decisions:
    until = now + WEEK
    vms = sorted((_decision_vm(row, now, tags) for row in rows), key=_soonest)
    week = [vm for vm in vms if vm.due is not None and vm.due <= until]
    single = [vm for vm in week if _SINGLE & set(vm.row.risks)]
    return Decisions(
        now=now,
        tags=tags,
        production=tuple(vm for vm in single if _is_production(vm, tags)),
        retries=tuple(vm for vm in week if vm.row.state in RETRYING),
        dynamic_ips=tuple(vm for vm in vms if _ip_would_change(vm.row, now, until)),
        busy_days=_busy_days(vms, now, until),
        untagged_single=sum(1 for vm in single if not vm.environment),
    )


def tagged(row: VmRow, tags: ManagerTags, due: datetime | None = None) -> DecisionVm:
    """A row with its owner and environment, for a table."""
    return DecisionVm(row, _tag(row.tags, tags.owner), _tag(row.tags, tags.environment), due)


def _decision_vm(row: VmRow, now: datetime, tags: ManagerTags) -> DecisionVm:
    return tagged(row, tags, _due(row, now))


def _due(row: VmRow, now: datetime) -> datetime | None:
    """When a VM still to be rebooted next asks for something: its self-service deadline (or, in Retry later,
    the end of its self-service window), or the start of Azure's scheduled window (now, once it has begun)."""
    if row.state not in TO_REBOOT:
        return None
    times = [end for end in (row.deadline, _retry_until(row)) if end is not None and end > now]
    scheduled = row.scheduled
    if scheduled is not None and scheduled.start is not None and (scheduled.end is None or scheduled.end > now):
        times.append(max(scheduled.start, now))
    return min(times, default=None)


def _retry_until(row: VmRow) -> datetime | None:
    if row.state != MaintenanceState.RETRY_LATER.value or row.self_service is None:
        return None
    return row.self_service.end


def _self_service_end(row: VmRow) -> datetime | None:
    return row.deadline or _retry_until(row)


def _ip_would_change(row: VmRow, now: datetime, until: datetime) -> bool:
    end = _self_service_end(row)
    return (row.state in _SELF_SERVICE and Risk.DYNAMIC_PUBLIC_IP.value in row.risks
            and end is not None and now < end <= until)


def _busy_days(vms: list[DecisionVm], now: datetime, until: datetime) -> tuple[BusyDay, ...]:
    days: dict[date, list[DecisionVm]] = {}
    for vm in sorted(vms, key=lambda v: (v.row.deadline or now, v.row.name.lower())):
        if vm.row.deadline is not None and now < vm.row.deadline <= until:
            days.setdefault(to_jst(vm.row.deadline).date(), []).append(vm)
    return tuple(BusyDay(day, tuple(group)) for day, group in sorted(days.items()) if len(group) >= BUSY_DAY)


def _is_production(vm: DecisionVm, tags: ManagerTags) -> bool:
    return vm.environment.lower() in {value.lower() for value in tags.production}


def _tag(tags: tuple[tuple[str, str], ...], name: str) -> str:
    """A tag's value, its name in any case (Azure's tag names are not case-sensitive); "" without it."""
    wanted = name.lower()
    return next((value for key, value in tags if key.lower() == wanted), "")


def _soonest(vm: DecisionVm) -> tuple[bool, datetime | None, str]:
    return vm.due is None, vm.due, vm.row.name.lower()
