"""What a notification says, worked out once and shared by every channel's templates.

`build_view(notification)` turns the model into plain facts: which kind of message this is, what
changed since the last one, how many VMs are in which state, which advice applies, the portal link.
It decides nothing about wording or layout (templates/) and nothing about escaping or size (relay/render/).
Text from the payload is cleaned here (relay.text) of what no channel should ever carry, but is otherwise
left as it came: each channel escapes it for itself.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.enrich import NOT_LISTED, Gap
from relay.enrich.state import CAN_START, RETRYING, TO_REBOOT, count_by_state
from relay.model import (
    AffectedVm,
    EventKind,
    MaintenanceState,
    Notification,
    RelayNotice,
    Release,
    Reminder,
    ResourceHealthChange,
    ResourceRef,
    Risk,
    ScheduledEvent,
    Window,
)
from relay.render.alert import AlertView, alert_view
from relay.render.changes import CHANGE_LINES, Contradiction, VmChange, changes_since, contradictions
from relay.render.portal import portal_link, resource_link
from relay.text import clean, one_line, shorten

URGENT_WITHIN = timedelta(hours=24)  # a self-service deadline this near is shown in red
WARNING_WITHIN = timedelta(hours=72)  # and this near, as a warning
# Azure's own values are far shorter; these only stop a hostile payload from taking over a message.
TITLE_LIMIT = 250
NAME_LIMIT = 200  # names, ids, tracking id, lookup
LIST_LIMIT = 12  # services, regions
ITEM_LIMIT = 80
ATTEMPT_LIMIT = 160  # Azure's message about a failed self-service attempt


def short_line(text: str | None, limit: int = NAME_LIMIT) -> str:
    return shorten(one_line(text), limit)


def _few(items: tuple[str, ...]) -> tuple[str, ...]:
    kept = tuple(s for s in (short_line(i, ITEM_LIMIT) for i in items) if s)
    return kept if len(kept) <= LIST_LIMIT else kept[:LIST_LIMIT] + ("…",)


@dataclass(frozen=True)
class VmRow:
    """One affected VM as the tables show it."""

    name: str
    resource_group: str
    subscription_id: str
    location: str
    state: str  # a MaintenanceState value
    risks: tuple[str, ...]  # Risk values
    self_service: Window | None
    scheduled: Window | None
    deadline: datetime | None  # end of the self-service window while "Start now" / "Retry now"
    last_attempt: str = ""  # why the last self-service attempt failed (Azure's words) while a retry state
    availability_set: str = ""  # its availability set's name: Azure updates a set one update domain at a time
    tags: tuple[tuple[str, str], ...] = ()  # the VM's tags (name, value), cleaned: who owns it, which environment
    last_attempt_key: str = ""  # last_attempt as one of the messages templates/ translate (KNOWN_ATTEMPTS); "": other

    @property
    def in_set(self) -> bool:
        return bool(self.availability_set)

    @property
    def az_command(self) -> str:
        """Self-service maintenance of this VM with the Azure CLI, quoted for a POSIX shell."""
        return (f"az vm perform-maintenance -g {shlex.quote(self.resource_group)} -n {shlex.quote(self.name)}"
                f" --subscription {shlex.quote(self.subscription_id)}")

    @property
    def powershell_command(self) -> str:
        """The same with Az PowerShell (the 2018 notice's Restart-AzureRmVM -PerformMaintenance)."""
        return (f"Restart-AzVM -PerformMaintenance -ResourceGroupName {_ps_quote(self.resource_group)}"
                f" -Name {_ps_quote(self.name)}")

    @classmethod
    def of(cls, affected: AffectedVm) -> VmRow:
        vm, redeploy = affected.vm, affected.vm.redeploy
        return cls(
            name=short_line(vm.name),
            resource_group=short_line(vm.resource_group),
            subscription_id=short_line(vm.subscription_id),
            location=short_line(vm.location),
            state=affected.state.value,
            risks=tuple(r.value for r in affected.risks),
            self_service=_known(redeploy.self_service) if redeploy else None,
            scheduled=_known(redeploy.scheduled) if redeploy else None,
            deadline=affected.self_service_deadline,
            last_attempt=_last_attempt(affected),
            availability_set=short_line((vm.availability_set or "").rstrip("/").rpartition("/")[2]),
            tags=tuple((short_line(name, ITEM_LIMIT), short_line(value, ITEM_LIMIT)) for name, value in vm.tags.items()),
            last_attempt_key=_last_attempt_key(affected),
        )


def _last_attempt(affected: AffectedVm) -> str:
    if affected.state not in RETRYING or affected.vm.redeploy is None:
        return ""
    return short_line(affected.vm.redeploy.last_message, ATTEMPT_LIMIT)


# Azure's lastOperationMessage texts that the labels translate (common/labels.j2, macro last_attempt), by
# key; any other text is shown as Azure wrote it. Microsoft documents the field only as the "message
# returned for the last Maintenance Operation", with no list of values: these are the ones seen.
KNOWN_ATTEMPTS = {
    "not_now": "Maintenance cannot be performed on the VM now. Retry later.",
    "vm_did_not_respond": "Maintenance was aborted because the VM did not respond. Retry the maintenance.",
    "completed": "Maintenance completed successfully.",
}
_ATTEMPT_KEYS = {" ".join(text.lower().rstrip(".").split()): key for key, text in KNOWN_ATTEMPTS.items()}


def _last_attempt_key(affected: AffectedVm) -> str:
    """The key of Azure's message about the last attempt when it is a known one (any case and spacing)."""
    text = _last_attempt(affected)
    return _ATTEMPT_KEYS.get(" ".join(text.lower().rstrip(".").split()), "") if text else ""


def deadline_urgency(deadline: datetime, now: datetime) -> str:
    """"urgent" under a day away, "warning" under three days, else "": red and amber in every channel."""
    left = deadline - now
    return "urgent" if left < URGENT_WITHIN else "warning" if left < WARNING_WITHIN else ""


def _ps_quote(text: str) -> str:
    """A PowerShell argument: bare when it is plainly safe, else single-quoted with quotes doubled."""
    return text if text and all(c.isalnum() or c in "-_." for c in text) else "'" + text.replace("'", "''") + "'"


def _known(window: Window) -> Window | None:
    return window if (window.start or window.end) else None


@dataclass(frozen=True)
class ResourceView:
    """The resource of a Resource Health alert."""

    id: str
    name: str
    resource_group: str
    subscription_id: str
    current: str
    previous: str
    cause: str
    type: str
    details: str


def _resource_view(change: ResourceHealthChange) -> ResourceView:
    resource = ResourceRef.parse(one_line(change.resource_id))
    return ResourceView(
        id=resource.id,
        name=short_line(resource.name),
        resource_group=short_line(resource.group),
        subscription_id=short_line(resource.subscription),
        current=short_line(change.current, ITEM_LIMIT),
        previous=short_line(change.previous, ITEM_LIMIT),
        cause=short_line(change.cause, ITEM_LIMIT),
        type=short_line(change.type, ITEM_LIMIT),
        details=clean(change.details),
    )


@dataclass(frozen=True)
class ScheduledView:
    """The Scheduled Event a VM's agent reported: Azure's names (Reboot, Scheduled, …) as they came."""

    event_id: str
    type: str
    status: str
    not_before: datetime | None  # unknown once the event has started
    duration_seconds: int | None  # None: unknown; 0: no impact
    source: str
    vms: tuple[str, ...]  # every VM the event is for
    reported_by: str  # the VM whose agent told the relay first

    @classmethod
    def of(cls, event: ScheduledEvent) -> ScheduledView:
        return cls(short_line(event.event_id), short_line(event.type, ITEM_LIMIT), short_line(event.status, ITEM_LIMIT),
                   event.not_before, event.duration_seconds, short_line(event.source, ITEM_LIMIT), _few(event.vms),
                   short_line(event.reported_by))


@dataclass(frozen=True)
class View:
    """Everything a message says, as data. Keys (kind, stage, change, advice) name wording in templates/."""

    key: str  # the notification's dedup key: one per communication
    thread: str  # the notification's thread key: one per event
    kind: str  # EventKind value, or "emergency" for emergency maintenance
    stage: str  # Planned, Rescheduled, …; "" when the event gave none
    title: str
    tracking_id: str
    window: Window
    services: tuple[str, ...]
    regions: tuple[str, ...]
    now: datetime
    communication: str
    communication_html: str  # as Azure wrote it, untrusted: only the email shows it, sanitised
    is_update: bool
    prior_stage: str
    prior_window: Window | None  # set only when the window moved since the last notice
    change: str  # what the stage means as news: rescheduled, canceled, complete, in_progress, resolved, or ""
    lookup: str
    gaps: tuple[Gap, ...]  # why the VM list is incomplete (at most LIST_LIMIT); empty when it is complete
    link: str | None
    shows_vms: bool  # maintenance: a VM table (or a "none of ours" line); other kinds: none
    vms_not_listed: bool  # maintenance for which Azure lists no affected resources: it cannot name our VMs
    rows: tuple[VmRow, ...]  # every affected VM, most urgent first
    portion_of: int  # the message lists only its receiver's VMs, out of this many affected; 0: lists them all
    counts: tuple[tuple[str, int], ...]  # (MaintenanceState value, count), in urgency order
    risk_counts: tuple[tuple[str, int], ...]  # (Risk value, count)
    first_deadline: datetime | None  # the nearest self-service deadline among the VMs
    resource: ResourceView | None
    scheduled: ScheduledView | None = None
    notice: RelayNotice | None = None  # a relay notice: render words it from templates/notices/
    alert: AlertView | None = None  # an Azure Monitor alert: templates/common/alert.j2 words it
    health_changed: datetime | None = None  # a Resource Health alert: when the resource's health changed
    changes: tuple[VmChange, ...] = ()  # the VMs whose deadline, scheduled window or state moved since this
    #   receiver's last notice of the thread, and those that joined or left; most urgent first
    vms_compared: bool = False  # that last notice is known, so `changes` is all that moved (even when empty)
    vms_read_at: datetime | None = None  # when the VM data was read (the enrichment's now); None: no VMs shown
    contradictions: tuple[Contradiction, ...] = ()  # VMs whose windows cannot all be true: shown as such
    change_lines: int = CHANGE_LINES  # how many of `changes` the note lists (render cuts it to fit a budget)
    reschedules: int = 0  # the thread's Rescheduled communications, this one included: calendar entries count them
    reminder: Reminder | None = None  # a reminder of the event (relay.remind): no news of Azure's, so no update,
    #   no change, none of Azure's text
    released: Release | None = None  # held for the receiver and sent now with the latest state (relay.hold)

    @property
    def total(self) -> int:
        return len(self.rows)

    def count(self, *states: str) -> int:
        wanted = set(states)
        return sum(n for state, n in self.counts if state in wanted)

    def risk_count(self, risk: str) -> int:
        return dict(self.risk_counts).get(risk, 0)

    @property
    def advice(self) -> tuple[str, ...]:
        """Keys of the "what to do" items that apply, most pressing first."""
        return _advice(self)

    @property
    def facts(self) -> tuple[str, ...]:
        """Keys of the facts to list, in order."""
        return _facts(self)

    @property
    def urgent(self) -> bool:
        """Emergency maintenance, a reboot minutes away, or a self-service deadline within a day: red everywhere."""
        return self.kind in ("emergency", EventKind.SCHEDULED.value) or self.deadline_urgency == "urgent"

    @property
    def action_count(self) -> int:
        """Our VMs someone can and should act on now: Start now and Retry now."""
        return self.count(*CAN_START)

    @property
    def deadline_urgency(self) -> str:
        """How near the earliest self-service deadline is: "urgent" under a day, "warning" under three days, else ""."""
        if not self.asks_action or self.first_deadline is None:
            return ""
        return deadline_urgency(self.first_deadline, self.now)

    @property
    def asks_action(self) -> bool:
        """Some VM can be started now and the stage still asks for it (not once Complete or Canceled)."""
        return bool(self.action_count) and self.change not in ("complete", "canceled")

    @property
    def action_rows(self) -> tuple[VmRow, ...]:
        """The VMs someone can start now (Start now, Retry now), most urgent first: one command each. None
        once the stage no longer asks for it."""
        return tuple(r for r in self.rows if r.state in CAN_START) if self.asks_action else ()

    @property
    def not_updated(self) -> tuple[VmRow, ...]:
        """The VMs still to be done: after Complete, the ones to name and check."""
        return tuple(r for r in self.rows if r.state in TO_REBOOT)

    @property
    def reminder_kind(self) -> str:
        """deadline, reboot or all_done for a reminder (model.REMINDER_KINDS); "" for news."""
        return self.reminder.kind if self.reminder is not None else ""

    @property
    def closed(self) -> bool:
        """Nothing is left to decide: the maintenance is complete or canceled, or every VM of the receiver is done."""
        return self.change in ("complete", "canceled") or self.reminder_kind == "all_done"

    @property
    def good_news(self) -> bool:
        """News that asks nothing more: an alert resolved, or the reminder that every VM of the receiver is done."""
        return (self.alert is not None and self.alert.resolved) or self.reminder_kind == "all_done"

    @property
    def reboot_from(self) -> datetime | None:
        """When Azure starts rebooting the VMs still to be done: a reboot reminder's point, else the start of the
        earliest scheduled window."""
        if self.reminder is not None and self.reminder.kind == "reboot":
            return self.reminder.due
        return self.first_reboot.start if self.first_reboot else None

    @property
    def reboot_count(self) -> int:
        """Our VMs Azure reboots in its scheduled window unless someone maintains them first."""
        return self.count(*TO_REBOOT)

    @property
    def first_reboot(self) -> Window | None:
        """The earliest scheduled window (Azure's reboot window) among the VMs still to be done."""
        windows = [r.scheduled for r in self.rows if r.scheduled and r.state in TO_REBOOT and r.scheduled.start]
        return min(windows, key=lambda w: w.start or self.now) if windows else None

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        """(label key, URL) of each link into the portal: an alert's, else the event's."""
        if self.alert is not None:
            return self.alert.links
        return (("open", self.link),) if self.link else ()

    @property
    def communication_title(self) -> str:
        """The heading of the message text: Azure's own words, the relay's, or an alert rule's description."""
        if self.alert is not None:
            return "alert_description"
        return "relay_message" if self.kind == EventKind.RELAY.value else "communication"


_CHANGES = {
    "rescheduled": "rescheduled",
    "canceled": "canceled",
    "cancelled": "canceled",
    "complete": "complete",
    "completed": "complete",
    "inprogress": "in_progress",
    "resolved": "resolved",
}


def build_view(notification: Notification) -> View:
    enriched, event = notification.enriched, notification.event
    # A reminder is no news of Azure's: it updates nothing, changes nothing and carries none of Azure's text. A relay
    # notice in a maintenance's thread (a maintain run) is not an update of Azure's notice either.
    news = notification.reminder is None
    prior, told = (notification.prior, notification.told) if news and event.kind is not EventKind.RELAY else (None, None)
    kind = "emergency" if event.is_emergency else event.kind.value
    stage = short_line(event.stage, ITEM_LIMIT)
    change = _CHANGES.get(stage.lower().replace(" ", ""), "") if news else ""
    shows_vms = event.kind is EventKind.MAINTENANCE
    affected = enriched.vms if shows_vms else ()
    rows = tuple(VmRow.of(a) for a in affected)
    counts = tuple((state.value, n) for state, n in count_by_state(affected).items())
    risk_counts = tuple(
        (risk.value, n) for risk in Risk if (n := sum(1 for a in affected if risk in a.risks))
    )
    deadlines = [a.self_service_deadline for a in affected if a.self_service_deadline]
    resource = _resource_view(event.resource) if event.resource else None
    alert = alert_view(event, event.alert, prior.stage if prior else None) if event.alert else None
    link = portal_link(event.tracking_id, event.subscription_ids)
    if link is None and resource is not None:
        link = resource_link(resource.id)
    return View(
        key=event.dedup_key,
        thread=event.thread_key,
        kind=kind,
        stage=stage,
        title="" if alert else shorten(one_line(event.title), TITLE_LIMIT),  # an alert's rule heads its headline
        tracking_id=short_line(event.tracking_id),
        window=event.window,
        services=_few(event.services),
        regions=_few(event.regions),
        now=enriched.now,
        communication=clean(event.communication) if news else "",
        communication_html=event.communication_html if news else "",
        is_update=prior is not None,
        prior_stage=short_line(prior.stage, ITEM_LIMIT) if prior else "",
        prior_window=prior.window if prior is not None and notification.window_changed else None,
        change=change,
        lookup=short_line(enriched.lookup),
        gaps=_gaps(enriched.gaps),
        link=link,
        shows_vms=shows_vms,
        vms_not_listed=shows_vms and enriched.lookup == NOT_LISTED,
        rows=rows,
        portion_of=(notification.affected or 0) if shows_vms else 0,
        counts=counts,
        risk_counts=risk_counts,
        first_deadline=min(deadlines) if deadlines else None,
        resource=resource,
        scheduled=ScheduledView.of(event.scheduled) if event.scheduled else None,
        notice=event.notice,
        alert=alert,
        health_changed=event.event_time if event.kind is EventKind.RESOURCE_HEALTH else None,
        changes=changes_since(told, affected) if told and shows_vms else (),
        vms_compared=told is not None and shows_vms,
        vms_read_at=enriched.now if shows_vms else None,
        contradictions=contradictions(affected, event.window) if shows_vms else (),
        reschedules=(notification.prior.reschedules if notification.prior else 0) + (change == "rescheduled"),
        reminder=notification.reminder,
        released=notification.released,
    )


def _gaps(gaps: tuple[str, ...]) -> tuple[Gap, ...]:
    parsed = (Gap.parse(text) for text in gaps[:LIST_LIMIT])
    return tuple(Gap(short_line(g.reason, ITEM_LIMIT), short_line(g.scope, ITEM_LIMIT), g.vms) for g in parsed)


def _advice(view: View) -> tuple[str, ...]:
    if view.alert is not None:
        return view.alert.advice
    if view.kind == EventKind.RELAY.value:
        return ("read_details",)
    if view.scheduled is not None:
        return _scheduled_advice(view.scheduled)
    if view.change == "canceled":
        return ("canceled",)
    if view.kind == "resource_health":
        return ("resource_health",)
    if not view.shows_vms:
        return ("check_portal",)
    if view.change == "complete":
        return _complete_advice(view)
    if view.reminder_kind == "all_done":
        return ()  # the note that closes the thread: nothing is left to do
    return _maintenance_advice(view)


def _maintenance_advice(view: View) -> tuple[str, ...]:
    """Planned, Rescheduled and In progress: what each state asks of people now, most pressing first. Advice
    follows each VM's own windows: once a self-service window has closed its VM is no longer Start now."""
    actions = view.action_rows
    items = ["in_progress"] if view.change == "in_progress" and view.reboot_count else []
    if actions:
        items += ["start_now", "self_service_cost"]
        if any(r.in_set for r in actions):
            items.append("availability_set")
        if any(Risk.DYNAMIC_PUBLIC_IP.value in r.risks for r in actions):
            items.append("dynamic_public_ip")
    if view.count(MaintenanceState.SCHEDULED.value):
        items.append("scheduled")
    if view.count(MaintenanceState.RETRY_LATER.value):
        items.append("retry_later")
    if any(Risk.SINGLE_INSTANCE.value in r.risks for r in view.rows if r.state in TO_REBOOT):
        items.append("single_instance")
    if any(Risk.ISOLATED.value in r.risks for r in view.rows if r.state in TO_REBOOT):
        items.append("isolated")
    if view.reminder is None:  # stopped VMs are never listed by Azure: worth saying with each of Azure's notices
        items.append("deallocated")
    return tuple(items)


def _complete_advice(view: View) -> tuple[str, ...]:
    """Complete: the outcome, and any VM still not updated, named, with what to check."""
    return ("complete",) + (("not_updated",) if view.reboot_count else ()) + ("deallocated",)


def _scheduled_advice(event: ScheduledView) -> tuple[str, ...]:
    kind = event.type.lower()
    if event.status.lower() == "started":
        return ("scheduled_started",)
    if kind in ("preempt", "terminate"):
        return ("scheduled_deleted",)
    return ("scheduled_prepare", "scheduled_approve") + (("scheduled_temp_disk",) if kind == "redeploy" else ())


def _facts(view: View) -> tuple[str, ...]:
    if view.alert is not None:
        return view.alert.fact_keys
    if view.kind == EventKind.RELAY.value:
        return ()
    if view.scheduled is not None:
        source = ("event_source",) if view.scheduled.source else ()
        not_before = ("not_before",) if view.scheduled.not_before else ()  # blank once started
        reporter = ("reported_by",) if view.scheduled.reported_by else ()
        return ("event_type", "stage", *not_before, "duration", "event_vms", *source, *reporter, "event_id")
    keys = (["stage"] if view.stage else []) + [_when(view)]
    if view.prior_window is not None:
        keys.append("prior_window")
    if view.services:
        keys.append("services")
    if view.regions:
        keys.append("regions")
    if view.resource is not None:
        keys += ["resource", "health"]
        if view.resource.cause:
            keys.append("cause")
        if view.resource.details:
            keys.append("details")
    if view.tracking_id:
        keys.append("tracking_id")
    if view.shows_vms:
        keys.append("vms")
        if view.total and view.vms_read_at is not None:
            keys.append("vms_read_at")  # VM data has an age: Azure's states change after the alert
    if view.portion_of:
        keys.append("portion")
    return tuple(keys)


def _when(view: View) -> str:
    """A Resource Health alert is about a moment, when the health changed: it has no window."""
    return "health_changed" if view.health_changed is not None else "window"
