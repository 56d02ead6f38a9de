"""What one receiver's digest says, as plain data: the ledger's maintenance threads, their VMs as they are
now, what changed since that receiver's last digest, the week's decisions (relay/render/decisions.py, read
with the receiver's ManagerTags), the silences active since that digest with what they hold, and who said they are
on each maintenance (the Teams bot's 対応します / I'm on it). Wording is in templates/digest/."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.config.digest import DigestSettings
from relay.digest.alerts import AlertCounts
from relay.enrich.arm_ids import id_key
from relay.enrich.state import TO_REBOOT, by_urgency, count_by_state, urgency
from relay.hold.silences import matchers_text
from relay.model import Acknowledgement, AffectedVm, Enriched, Event, Hold, ManagerTags, Silence, Window
from relay.render.decisions import Decisions, decisions
from relay.render.view import ITEM_LIMIT, TITLE_LIMIT, VmRow, portal_link, short_line
from relay.store import Communication
from relay.text import one_line, shorten

_CLOSED = {"complete": "complete", "completed": "complete", "canceled": "canceled", "cancelled": "canceled"}
Thread = tuple[Communication, ...]


def _closed(event: Event) -> str:
    return _CLOSED.get((event.stage or "").lower().replace(" ", ""), "")


def upcoming(threads: list[Thread], now: datetime, settings: DigestSettings) -> list[Thread]:
    """Threads neither complete nor canceled whose window overlaps the horizon (now to now + horizon_days)."""
    end = now + timedelta(days=settings.horizon_days)

    def within(w: Window) -> bool:
        return (w.start is None or w.start < end) and (w.end is None or w.end > now)

    return [t for t in threads if not _closed(t[-1].event) and within(t[-1].event.window)]


@dataclass(frozen=True)
class Maintenance:
    """One maintenance in the horizon."""

    tracking_id: str
    title: str
    kind: str  # maintenance, or emergency
    stage: str
    window: Window
    link: str | None
    change: str  # since the last digest: new, moved (the window), stage, or ""
    prior_stage: str
    prior_window: Window | None
    counts: tuple[tuple[str, int], ...]  # (MaintenanceState value, count), in urgency order
    total: int
    on_it: tuple[str, ...] = ()  # the names of those who said they are on it, first first


@dataclass(frozen=True)
class Closed:
    """A maintenance completed or canceled since the last digest."""

    tracking_id: str
    title: str
    kind: str
    stage: str  # complete or canceled
    window: Window
    at: datetime  # when the relay heard of it


@dataclass(frozen=True)
class VmDue:
    """A VM with a time to mind: its self-service deadline, or its forced reboot (row.scheduled)."""

    row: VmRow
    group: str
    tracking_id: str


@dataclass(frozen=True)
class Group:
    """A team (the value of the team tag; "" for VMs without it) or a subscription, with its VMs by state."""

    name: str
    counts: tuple[tuple[str, int], ...]
    total: int

    def count(self, state: str) -> int:
        return dict(self.counts).get(state, 0)


@dataclass(frozen=True)
class Silenced:
    """A silence active at some time since the last digest, and what it holds now: the messages held back by it
    for every receiver (its holds; a hold for quiet hours is not a silence's), counted per maintenance."""

    id: str
    matchers: str  # as `relay silence` shows them: field=value, field=~regex, tag:NAME=value
    window: Window  # from its start to its end (when it was expired, if it was)
    by: str
    comment: str
    active: bool  # still active now; else it ended since the last digest
    held: tuple[tuple[str, int], ...]  # (trackingId, messages held), by trackingId

    @property
    def total(self) -> int:
        return sum(n for _, n in self.held)


@dataclass(frozen=True)
class DigestView:
    now: datetime
    since: datetime  # the last digest, or a day before the first one
    first: bool  # no digest went to this receiver before
    horizon_days: int
    deadline_days: int
    team_tag: str | None  # groups are teams by this tag; None: subscriptions
    upcoming: tuple[Maintenance, ...]
    closed: tuple[Closed, ...]
    deadlines: tuple[VmDue, ...]  # self-service deadlines within deadline_days, soonest first
    reboots: tuple[VmDue, ...]  # forced reboots within the horizon, soonest first
    groups: tuple[Group, ...]
    states: tuple[str, ...]  # the states any VM is in, in urgency order: the columns of the groups table
    rows: tuple[VmRow, ...]  # every VM of the upcoming maintenance, once, most urgent first (the CSV)
    counts: tuple[tuple[str, int], ...]
    decisions: Decisions  # what the receiver decides this week, over every VM of the upcoming maintenance
    alerts: AlertCounts | None = None  # the alerts of the last 24 hours (digest setting `alerts`); None: not asked
    silences: tuple[Silenced, ...] = ()  # active at some time since the last digest, by start

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def changes(self) -> tuple[Maintenance, ...]:
        return tuple(m for m in self.upcoming if m.change)

    @property
    def empty(self) -> bool:
        """Nothing to report: no maintenance in the horizon, none completed or canceled since the last digest, no
        alert counted, and no silence listed. A silence is worth a manager's attention even when it holds nothing
        (it keeps the teams from hearing of what it matches), so a listed silence alone makes a digest."""
        return (not self.upcoming and not self.closed and not (self.alerts and self.alerts.total)
                and not self.silences)


def digest_view(threads: list[Thread], enriched: Mapping[str, Enriched], settings: DigestSettings,
               now: datetime, last: datetime | None, first_since: datetime, tags: ManagerTags,
               alerts: AlertCounts | None = None, silences: Sequence[Silence] = (),
               holds: Sequence[Hold] = (), on_it: Mapping[str, Sequence[Acknowledgement]] | None = None) -> DigestView:
    """`enriched` holds, by thread key, the latest event of each upcoming thread enriched at `now`; changes
    count from `last`, the receiver's last digest, or from `first_since` when there was none. `tags`: the
    receiver's, which tell production VMs and owners in the week's decisions. `silences` and `holds`: the
    ledger's, all of them (the digest lists the silences active since `last`, with what they hold). `on_it`: by
    thread key, who said they are on it (for any receiver)."""
    since = last or first_since
    live = upcoming(threads, now, settings)
    affected: dict[str, tuple[AffectedVm, str]] = {}  # by VM id: the most urgent entry, and its trackingId
    for thread in live:
        event = thread[-1].event
        for a in enriched[event.thread_key].vms:
            key = id_key(a.vm.id)
            if key not in affected or urgency(a) < urgency(affected[key][0]):
                affected[key] = (a, short_line(event.tracking_id))
    vms = by_urgency([a for a, _ in affected.values()])
    horizon = now + timedelta(days=settings.horizon_days)

    def due(a: AffectedVm) -> VmDue:
        return VmDue(VmRow.of(a), _group(a, settings.team_tag), affected[id_key(a.vm.id)][1])

    deadlines = sorted(
        (due(a) for a in vms
         if a.self_service_deadline and now < a.self_service_deadline <= now + timedelta(days=settings.deadline_days)),
        key=lambda d: (d.row.deadline, d.row.name.lower()),
    )
    reboots = sorted(
        (due(a) for a in vms
         if a.state in TO_REBOOT and a.vm.redeploy and _within(a.vm.redeploy.scheduled, now, horizon)),
        key=lambda d: (d.row.scheduled.start if d.row.scheduled else None, d.row.name.lower()),  # _within: all have one
    )
    counts = count_by_state(vms)
    rows = tuple(VmRow.of(a) for a in vms)
    return DigestView(
        now=now,
        since=since,
        first=last is None,
        horizon_days=settings.horizon_days,
        deadline_days=settings.deadline_days,
        team_tag=settings.team_tag,
        upcoming=tuple(_maintenance(t, enriched[t[-1].event.thread_key], since,
                                    people_on_it((on_it or {}).get(t[-1].event.thread_key, ()))) for t in live),
        closed=tuple(_closed_one(t) for t in threads if _closed(t[-1].event) and t[-1].admitted_at >= since),
        deadlines=tuple(deadlines),
        reboots=tuple(reboots),
        groups=_groups(vms, settings.team_tag),
        states=tuple(state.value for state in counts),
        rows=rows,
        counts=tuple((state.value, n) for state, n in counts.items()),
        decisions=decisions(rows, now, tags),
        alerts=alerts,
        silences=silenced(silences, holds, since, now),
    )


def silenced(silences: Sequence[Silence], holds: Sequence[Hold], since: datetime,
             now: datetime) -> tuple[Silenced, ...]:
    """The silences active at some time from `since` to `now`, by start, each with the messages it holds now."""
    held: dict[str, dict[str, int]] = {}  # by silence id, by trackingId
    for hold in holds:
        if hold.reason == "silence" and hold.silence_id:
            name = short_line(hold.event.tracking_id) or _title(hold.event)
            per = held.setdefault(hold.silence_id, {})
            per[name] = per.get(name, 0) + max(hold.held, 1)
    return tuple(
        Silenced(
            id=short_line(s.id),
            matchers=short_line(matchers_text(s.matchers), TITLE_LIMIT),
            window=Window(s.starts, s.ends),
            by=short_line(s.created_by, ITEM_LIMIT),
            comment=short_line(s.comment, TITLE_LIMIT),
            active=s.active(now),
            held=tuple(sorted(held.get(s.id, {}).items())),
        )
        for s in sorted(silences, key=lambda s: (s.starts, s.id))
        if s.starts <= now and s.ends > since
    )


def _within(scheduled: Window, now: datetime, horizon: datetime) -> bool:
    return scheduled.start is not None and scheduled.start < horizon and (scheduled.end is None or scheduled.end > now)


def _kind(event: Event) -> str:
    return "emergency" if event.is_emergency else event.kind.value


def _title(event: Event) -> str:
    return shorten(one_line(event.title), TITLE_LIMIT)


def people_on_it(acks: Iterable[Acknowledgement]) -> tuple[str, ...]:
    """The names of those on a maintenance, each person once (by Entra object id, their first time), first first."""
    first: dict[str, Acknowledgement] = {}
    for ack in sorted(acks, key=lambda a: a.at):
        first.setdefault(ack.user_id, ack)
    return tuple(short_line(ack.name, ITEM_LIMIT) or ack.user_id for ack in first.values())


def _maintenance(thread: Thread, enriched: Enriched, since: datetime, on_it: tuple[str, ...] = ()) -> Maintenance:
    latest = thread[-1].event
    known = [c.event for c in thread if c.admitted_at < since]  # what the last digest could tell
    change, prior_stage, prior_window = "", "", None
    if not known:
        change = "new"
    elif known[-1].window != latest.window:
        change, prior_window = "moved", known[-1].window
    elif (known[-1].stage or "") != (latest.stage or ""):
        change, prior_stage = "stage", short_line(known[-1].stage, ITEM_LIMIT)
    return Maintenance(
        tracking_id=short_line(latest.tracking_id),
        title=_title(latest),
        kind=_kind(latest),
        stage=short_line(latest.stage, ITEM_LIMIT),
        window=latest.window,
        link=portal_link(latest.tracking_id, latest.subscription_ids),
        change=change,
        prior_stage=prior_stage,
        prior_window=prior_window,
        counts=tuple((state.value, n) for state, n in count_by_state(enriched.vms).items()),
        total=len(enriched.vms),
        on_it=on_it,
    )


def _closed_one(thread: Thread) -> Closed:
    last = thread[-1]
    return Closed(short_line(last.event.tracking_id), _title(last.event), _kind(last.event), _closed(last.event),
                  last.event.window, last.admitted_at)


def _group(affected: AffectedVm, team_tag: str | None) -> str:
    vm = affected.vm
    if team_tag is None:
        return short_line(vm.subscription_id)
    wanted = team_tag.lower()  # Azure tag names are not case-sensitive
    return short_line(next((value for name, value in vm.tags.items() if name.lower() == wanted), ""), ITEM_LIMIT)


def _groups(vms: tuple[AffectedVm, ...], team_tag: str | None) -> tuple[Group, ...]:
    members: dict[str, list[AffectedVm]] = {}
    for a in vms:
        members.setdefault(_group(a, team_tag), []).append(a)
    return tuple(
        Group(name, tuple((state.value, n) for state, n in count_by_state(tuple(group)).items()), len(group))
        for name, group in sorted(members.items(), key=lambda item: (item[0] == "", item[0].lower()))
    )
