"""The plain data that flows through the relay: Event → Enriched → Notification → Message → Delivery.

Every stage takes and returns these dataclasses; none of them does I/O.
All datetimes are timezone-aware UTC.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import ClassVar

# Times a message can show: in JST (UTC+9) and a week either side they stay within Python's years 1-9999, and
# four-digit years keep the ledger's stored times sorting as text. Intake and inventory refuse others.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
TOO_EARLY, TOO_LATE = "a date before 1900 cannot be shown", "a date after 9998 cannot be shown"


def unshowable(when: datetime) -> str | None:
    """Why a message cannot show this time, or None when it can."""
    return TOO_EARLY if when < EARLIEST else TOO_LATE if when >= LATEST else None


class EventKind(StrEnum):
    MAINTENANCE = "maintenance"
    INCIDENT = "incident"
    HEALTH_ADVISORY = "health_advisory"
    SECURITY = "security"
    RESOURCE_HEALTH = "resource_health"
    SCHEDULED = "scheduled"  # a Scheduled Event of a VM's Instance Metadata Service, sent by the agent on the VM
    ALERT = "alert"  # any other Azure Monitor alert of the common alert schema: metric, log search, activity log, …
    RELAY = "relay"  # the relay's own notices (Event.notice): a connection test, an alert it gave up on, a maintain run


@dataclass(frozen=True)
class Window:
    """A UTC time range; either end may be unknown (None)."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)


@dataclass(frozen=True)
class ResourceHealthChange:
    """The resource a Resource Health alert is about (for a Scheduled Event: the VM that reported it)."""

    resource_id: str
    current: str | None = None  # Available, Unavailable, Degraded, Unknown
    previous: str | None = None
    cause: str | None = None  # PlatformInitiated, UserInitiated
    type: str | None = None  # e.g. Downtime
    details: str | None = None


@dataclass(frozen=True)
class ScheduledEvent:
    """A Scheduled Event of the Instance Metadata Service, as the agent on one of its VMs reported it."""

    event_id: str
    type: str  # Freeze, Reboot, Redeploy, Preempt, Terminate
    status: str  # Scheduled, Started (a finished event simply disappears)
    not_before: datetime | None  # blank once Started
    duration_seconds: int | None = None  # None: unknown (Azure's -1); 0: no impact
    source: str | None = None  # Platform, User
    vms: tuple[str, ...] = ()  # Resources: the VMs the event is for
    reported_by: str = ""  # the VM whose agent sent it


@dataclass(frozen=True)
class ParkedAlert:
    """The relay gave up on an accepted alert and parked it (templates/notices/parked.j2)."""

    topic: ClassVar[str] = "parked"
    item_id: str  # the id `relay poison replay` takes
    alert: str | None  # one line naming the alert (kind · trackingId · stage · title); None: it does not parse
    attempts: int
    reason: str | None  # None: whoever parked it did not say (the Functions host never does)
    at: datetime


@dataclass(frozen=True)
class ConnectionTest:
    """`relay send-test`: a message that only proves the destination works (templates/notices/send_test.j2)."""

    topic: ClassVar[str] = "send_test"
    receiver: str
    at: datetime


@dataclass(frozen=True)
class SelfServiceRun:
    """What `relay maintain start`, or a Teams card's Start maintenance, did at one of its phases
    (templates/notices/maintain.j2)."""

    topic: ClassVar[str] = "maintain"
    phase: str  # started, finished, interrupted; refused (a start from Teams that was not done)
    by: str  # who started it (from Teams: "name (Entra object id)")
    tracking_id: str | None
    at: datetime
    started: tuple[str, ...] = ()  # the VMs started (names)
    waves: int = 0
    max_parallel: int = 0
    completed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (VM, Azure's message; "" when no end came in time)
    skipped: tuple[tuple[str, str], ...] = ()  # (VM, why: a relay.maintain.plan.Skip value)
    asked: tuple[str, ...] = ()  # refused: the VMs asked for (names)
    refused: str = ""  # refused: why, a relay.maintain.allowed.Refusal key
    detail: str = ""  # refused: the Skip value of a VM no longer startable, or what Graph or Azure answered


RelayNotice = ParkedAlert | ConnectionTest | SelfServiceRun

SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")  # Sev0 is the most severe
FIRED, RESOLVED = "Fired", "Resolved"  # an alert's monitor condition
ALERT_RULE_KEY = 200  # characters of a rule name that key its thread when an alert has no alertId


@dataclass(frozen=True)
class ResourceRef:
    """What an Azure resource id names, as written:
    /subscriptions/{subscription}/resourceGroups/{group}/providers/{namespace}/{type}/{name}[/{type}/{name}…]"""

    id: str
    subscription: str = ""
    group: str = ""
    type: str = ""  # Microsoft.Compute/virtualMachines; a nested type whole: Microsoft.Sql/servers/databases
    name: str = ""  # its last part; the id itself when it has no parts

    @classmethod
    def parse(cls, resource_id: str) -> ResourceRef:
        rid = resource_id.strip()
        parts = rid.strip("/").split("/")
        lowered = [part.lower() for part in parts]

        def after(key: str) -> str:
            return parts[lowered.index(key) + 1] if key in lowered[:-1] else ""

        kind = ""
        if "providers" in lowered[:-1]:  # the last: an extension resource is of the type after it
            namespace, *rest = parts[len(lowered) - lowered[::-1].index("providers"):]
            kind = "/".join([namespace, *rest[::2]])
        return cls(rid, after("subscriptions"), after("resourcegroups"), kind, parts[-1] or rid)


@dataclass(frozen=True)
class Criterion:
    """One condition of an alert rule and what was measured against it, as Azure wrote each value: a metric, a
    log query, a Prometheus expression or a budget."""

    metric: str | None = None  # metricName; a budget's name
    query: str | None = None  # the log search query, or the Prometheus expression
    operator: str | None = None  # GreaterThan, Less Than, …
    threshold: str | None = None  # "25", "$50.00"; a dynamic threshold as Azure calculated it
    value: str | None = None  # what was measured: metricValue, the number of results, expressionValue, the spend
    aggregation: str | None = None  # timeAggregation: Average, Total, Count, …
    dimensions: tuple[tuple[str, str], ...] = ()  # (name, value) the alert was split by


@dataclass(frozen=True)
class MonitorAlert:
    """An Azure Monitor alert of the common alert schema other than Service Health and Resource Health: what its
    essentials say, and what its alert context says of the cause."""

    severity: str | None  # one of SEVERITIES, else as Azure wrote it; None: Azure gave none (budget alerts)
    monitor_condition: str  # FIRED or RESOLVED
    service: str | None  # monitoringService as Azure wrote it: Platform, Log Alerts V2, Prometheus, …
    signal: str | None  # signalType: Metric, Log, Activity Log
    rule: str | None  # alertRule
    targets: tuple[str, ...] = ()  # alertTargetIDs (a budget: its scope), as resource ids
    items: tuple[str, ...] = ()  # configurationItems: the resources the data came from, by name
    target_type: str | None = None  # targetResourceType, else the type of the first target
    target_group: str | None = None  # targetResourceGroup, else the group of the first target
    fired: datetime | None = None
    resolved: datetime | None = None
    criteria: tuple[Criterion, ...] = ()
    window_size: str | None = None  # the rule's evaluation window as Azure writes it (ISO 8601: PT5M)
    window: Window = field(default_factory=Window)  # the period evaluated when it fired
    facts: tuple[tuple[str, str], ...] = ()  # (key, value): what else the alert context says (templates name keys)
    links: tuple[tuple[str, str], ...] = ()  # (key, https URL into the Azure portal): log results, investigation, …
    context_read: bool = True  # False: an unknown service or context version, relayed with its essentials only


@dataclass(frozen=True)
class Event:
    """One Service Health or Resource Health communication or Azure Monitor alert, whatever schema it came in."""

    kind: EventKind
    schema: str  # "common" or "legacy"
    title: str
    communication: str  # safe plain text (HTML from Azure already stripped)
    communication_html: str = ""  # the same as Azure wrote it, untrusted: shown only through render/sanitize.py
    tracking_id: str | None = None
    maintenance_id: str | None = None  # properties.maintenanceId of a maintenance alert
    communication_id: str | None = None
    event_data_id: str | None = None
    alert_id: str | None = None
    stage: str | None = None  # Planned, Rescheduled, InProgress, Complete, Canceled, Active, Resolved, RCA
    level: str | None = None  # Critical, Error, Warning, Informational
    status: str | None = None  # Active, Resolved, InProgress, Updated
    services: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    subscription_ids: tuple[str, ...] = ()
    window: Window = field(default_factory=Window)
    event_time: datetime | None = None
    resource: ResourceHealthChange | None = None
    scheduled: ScheduledEvent | None = None
    notice: RelayNotice | None = None  # what a relay notice (kind RELAY) is about; its wording is in templates/notices/
    alert: MonitorAlert | None = None  # what an Azure Monitor alert (kind ALERT) says
    warnings: tuple[str, ...] = ()

    @property
    def is_emergency(self) -> bool:
        """Maintenance at level Warning is emergency maintenance."""
        return self.kind is EventKind.MAINTENANCE and (self.level or "").lower() == "warning"

    @property
    def dedup_key(self) -> str:
        """One key per communication: trackingId + communicationId, else eventDataId, else alertId. A Scheduled
        Event: its EventId, status and NotBefore, whichever of its VMs reported it. An Azure Monitor alert: its
        alertId and monitor condition (Fired, Resolved), of one firing."""
        if self.scheduled:
            when = self.scheduled.not_before.isoformat() if self.scheduled.not_before else "-"
            return f"{self.thread_key}/{self.scheduled.status}/{when}".lower()
        if self.alert:
            # Its firing time too: the Action Group's test notifications of one kind all carry the same alertId.
            fired = self.alert.fired.isoformat() if self.alert.fired else "-"
            return f"{self.thread_key}/{self.alert.monitor_condition}/{fired}".lower()
        if self.tracking_id and self.communication_id:
            return f"{self.tracking_id}/{self.communication_id}".lower()
        if self.event_data_id:
            return f"event/{self.event_data_id}".lower()
        if self.alert_id:
            return f"alert/{self.alert_id}".lower()
        return f"untracked/{self.kind}/{self.title}/{self.window.start}"

    @property
    def thread_key(self) -> str:
        """Communications that share this key update one notification thread: an alert's Resolved its Fired."""
        if self.scheduled:
            return f"scheduled/{self.scheduled.event_id}".lower()
        if self.alert:  # without an alertId (never seen), the rule's firings share a thread
            return f"alert/{self.alert_id or self.title[:ALERT_RULE_KEY]}".lower()
        if self.tracking_id:
            return self.tracking_id.upper()
        if self.resource:
            return self.resource.resource_id.lower()
        return self.dedup_key


class MaintenanceState(StrEnum):
    """The portal's "Maintenance status" column of a VM."""

    START_NOW = "start_now"
    RETRY_NOW = "retry_now"
    SCHEDULED = "scheduled"
    RETRY_LATER = "retry_later"
    UNKNOWN = "unknown"  # deallocated: Azure shows no maintenance information for it (it may be done on next start)
    ALREADY_UPDATED = "already_updated"
    NONE = "none"


class Risk(StrEnum):
    SINGLE_INSTANCE = "single_instance"  # no availability set and no zone: the reboot is downtime
    ISOLATED = "isolated"  # in an availability set whose other VMs are all deallocated: in effect a single instance
    DYNAMIC_PUBLIC_IP = "dynamic_public_ip"  # the address changes on a self-service redeploy
    DEALLOCATED = "deallocated"  # not listed by Azure; may be maintained on next start


@dataclass(frozen=True)
class RedeployStatus:
    """instanceView.maintenanceRedeployStatus of a VM."""

    customer_initiated_allowed: bool = False
    self_service: Window = field(default_factory=Window)  # preMaintenanceWindow*
    scheduled: Window = field(default_factory=Window)  # maintenanceWindow*
    # As its source words it: the instance view's lastOperationResultCode (None, RetryLater, MaintenanceAborted,
    # MaintenanceCompleted) or a maintenance record's status (RetryNow, RetryLater, Completed)
    last_result: str | None = None
    last_message: str | None = None


@dataclass(frozen=True)
class Vm:
    id: str
    name: str
    resource_group: str
    subscription_id: str
    location: str = ""
    zones: tuple[str, ...] = ()
    availability_set: str | None = None
    power_state: str = "running"
    public_ip_allocation: str | None = None  # Static, Dynamic
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    redeploy: RedeployStatus | None = None
    update_domain: int | None = None  # platformUpdateDomain in its set, from the instance view
    others_in_set_deallocated: bool = False  # its availability set has other VMs and every one is deallocated
    state_source: str | None = field(default=None, compare=False)  # where `redeploy` was read (relay.enrich)


@dataclass(frozen=True)
class AffectedVm:
    """A VM of ours hit by an event, with what it means now."""

    vm: Vm
    state: MaintenanceState
    risks: tuple[Risk, ...] = ()

    @property
    def self_service_deadline(self) -> datetime | None:
        if self.state in (MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW) and self.vm.redeploy:
            return self.vm.redeploy.self_service.end
        return None


@dataclass(frozen=True)
class Enriched:
    """An event with the VMs it affects, as of `now`."""

    event: Event
    now: datetime
    vms: tuple[AffectedVm, ...] = ()
    lookup: str = "inventory"  # where the VM list came from; "none" when the event names no VMs
    gaps: tuple[str, ...] = ()  # why the VM list is incomplete, when it is (relay.enrich.gap)


@dataclass(frozen=True)
class PriorNotice:
    """What the ledger remembers of the last notification in the same thread."""

    stage: str | None
    window: Window
    sent_at: datetime
    reschedules: int = 0  # Rescheduled communications of the thread up to this one: what calendar entries count


@dataclass(frozen=True)
class VmSnapshot:
    """One VM as a delivered notice described it: what the next notice of the thread compares against."""

    key: str  # the VM's id as ids are compared (relay.enrich.arm_ids.id_key)
    name: str
    state: MaintenanceState
    self_service: Window = field(default_factory=Window)  # its end is the self-service deadline
    scheduled: Window = field(default_factory=Window)  # Azure's scheduled (reboot) window


@dataclass(frozen=True)
class NoticeSnapshot:
    """What one delivered notice told one receiver of its VMs: routing gives each receiver only its own."""

    notification_key: str  # the communication (Event.dedup_key)
    event_time: datetime | None  # the communication's: orders the notices of a thread
    read_at: datetime  # when the VM data was read (Enriched.now)
    vms: tuple[VmSnapshot, ...] = ()


REMINDER_KINDS = ("deadline", "reboot", "all_done")


@dataclass(frozen=True)
class Reminder:
    """A word between Azure's notices (relay.remind): a self-service deadline or Azure's reboot window drawing
    near, with the VMs still to do; or, once a receiver's last VM is done, the note that closes its thread."""

    kind: str  # one of REMINDER_KINDS
    due: datetime | None = None  # the deadline, or the reboot window's start; None for all_done
    before: timedelta | None = None  # the offset it was due at: this long before `due`


HOLD_REASONS = ("quiet_hours", "silence")


@dataclass(frozen=True)
class Release:
    """A message held for a receiver (its quiet hours, or a silence) and sent now with the event's latest state."""

    reason: str  # one of HOLD_REASONS
    since: datetime  # when its first held message came
    held: int = 1  # how many messages of the event were held and are merged into this one


@dataclass(frozen=True)
class Notification:
    """What to tell people about one enriched event."""

    enriched: Enriched
    prior: PriorNotice | None = None
    affected: int | None = None  # set when routing cut the VMs down to one team's: how many the event hits
    told: NoticeSnapshot | None = None  # what this receiver was last told of its VMs in the thread (the ledger's)
    reminder: Reminder | None = None  # a reminder of the event rather than Azure's news (relay.remind)
    released: Release | None = None  # held for the receiver, and released with the latest state (relay.hold)

    @property
    def event(self) -> Event:
        return self.enriched.event

    @property
    def is_update(self) -> bool:
        return self.prior is not None

    @property
    def window_changed(self) -> bool:
        return self.prior is not None and self.prior.window != self.event.window


@dataclass(frozen=True)
class ManagerTags:
    """Which VM tags a manager's messages read: the environment (and which of its values mean production) and
    the owner. Tag names compare in any case, as Azure's do; so do the production values."""

    environment: str = "env"
    production: tuple[str, ...] = ("prod", "production")
    owner: str = "owner"


@dataclass(frozen=True)
class QuietSpan:
    """Part of a receiver's quiet hours, in JST: on each of `days`, the hours from `start` to `end`. When `end` is
    not after `start` (22:00-08:00) the day's two ends are quiet: 00:00-08:00 and 22:00-24:00; start == end ==
    00:00 is the whole day. So "mon-fri 22:00-08:00" with "sat-sun" is quiet from Friday 22:00 to Monday 08:00."""

    days: frozenset[int]  # JST weekdays: 0 Monday … 6 Sunday
    start: time = time(0)
    end: time = time(0)

    def minutes(self) -> tuple[tuple[int, int], ...]:
        """The quiet parts of each of its days, as (from, to) minutes after midnight, `to` not quiet."""
        start, end = self.start.hour * 60 + self.start.minute, self.end.hour * 60 + self.end.minute
        if start < end:
            return ((start, end),)
        return tuple(part for part in ((0, end), (start, 24 * 60)) if part[0] < part[1])


CALENDAR_ENTRIES = ("deadline", "reboot")  # the self-service deadline, Azure's scheduled (reboot) window


@dataclass(frozen=True)
class Receiver:
    """A destination chosen by routing. `channel` is the message format, `transport` how it leaves."""

    name: str
    channel: str  # teams, slack, email
    language: str = "both"  # ja, en, both
    transport: str = "outbox"  # outbox, or the channel's own (webhook, smtp, graph, …)
    destination_env: str | None = None  # name of the environment variable holding the secret address
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    audience: str = "oncall"  # oncall, or managers: polite email with the week's decisions and no commands
    tags: ManagerTags = field(default_factory=ManagerTags)  # what the managers' email and the digest read
    calendar: tuple[str, ...] = CALENDAR_ENTRIES  # the calendar entries it gets (relay/calendar); (): none
    quiet_hours: tuple[QuietSpan, ...] = ()  # when non-urgent messages wait (relay.hold); (): never


SILENCE_FIELDS = ("subscription", "resource_group", "tag", "region", "service", "kind", "stage", "tracking_id",
                  "receiver")


@dataclass(frozen=True)
class Matcher:
    """One condition of a silence: a routing field equal to `value` (any case), or matching it as a regular
    expression."""

    field: str  # one of SILENCE_FIELDS
    value: str
    regex: bool = False
    tag: str = ""  # field tag: the tag's name


@dataclass(frozen=True)
class Silence:
    """Alertmanager's silence: what it matches (every matcher must hold), for how long, who set it and why."""

    id: str
    matchers: tuple[Matcher, ...]
    starts: datetime
    ends: datetime
    created_by: str
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts <= now < self.ends

    def ended(self, now: datetime) -> Silence:
        """Expired at `now`, as Alertmanager does: its end moves to now (unless earlier), and a pending one's start
        too, so it never held anything."""
        return replace(self, starts=min(self.starts, now), ends=min(self.ends, now))


@dataclass(frozen=True)
class Hold:
    """A receiver's messages of one event held back (its quiet hours, or a silence): the latest of them, kept
    whole, to be sent with the event's state when the hold ends (relay.hold)."""

    thread_key: str
    receiver: str
    reason: str  # one of HOLD_REASONS
    since: datetime  # when the first held message came
    event: Event  # the latest held communication
    prior: PriorNotice | None = None  # what the thread said before that communication (its admission's)
    held: int = 1  # how many messages (communications) are held
    silence_id: str | None = None  # reason silence: which one
    until: datetime | None = None  # when the hold is expected to end: the quiet hours' end, the silence's


@dataclass(frozen=True)
class Acknowledgement:
    """Someone in Teams said they are on an event (the card's 対応します / I'm on it)."""

    user_id: str  # their Entra object id (aadObjectId)
    name: str  # as Teams showed it
    at: datetime


@dataclass(frozen=True)
class Attempt:
    """A send begun and not yet marked, kept in the ledger before the send and cleared by the mark. A channel
    that can ask its destination what it already has marks the message with `delivery_id`, and after an unknown
    outcome asks for it before sending again (relay.channels.Checkable)."""

    delivery_id: str  # 32 hex digits, new for each attempt
    first_sent: datetime  # UTC: when this attempt's first send began

    @classmethod
    def begin(cls, now: datetime) -> Attempt:
        return cls(uuid.uuid4().hex, now.astimezone(UTC))

    @property
    def uuid(self) -> str:
        """The id as a GUID, for APIs that want one (ACS's Operation-Id and Repeatability-Request-Id)."""
        return str(uuid.UUID(self.delivery_id))


@dataclass(frozen=True)
class Message:
    """A rendered, channel-native payload for one receiver."""

    receiver: Receiver
    notification_key: str
    thread_key: str
    content_type: str  # application/json or message/rfc822
    body: bytes
    summary: str  # one line for logs and the outbox index; never holds a secret
    file_stem: str = ""  # `<event time>-<trackingId>-<key>-<stage>`: names the message where it is kept as a file
    attempt: Attempt | None = None  # set by the pipeline just before the send


@dataclass(frozen=True)
class SendResult:
    """What a channel answers for one send: delivered, or failed and whether a retry may help."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    detail: str = ""
    reference: str | None = None  # e.g. a file written or a message id, for later updates
    unknown: bool = False  # failed with no answer: the destination may have the message (a timeout, a reset)

    @classmethod
    def delivered(cls, detail: str = "", reference: str | None = None) -> SendResult:
        return cls(ok=True, detail=detail, reference=reference)

    @classmethod
    def failed(cls, detail: str, retryable: bool, retry_after: float | None = None, *, unknown: bool = False) -> SendResult:
        return cls(ok=False, retryable=retryable, retry_after=retry_after, detail=detail, unknown=unknown)


@dataclass(frozen=True)
class Delivery:
    receiver: str
    notification_key: str
    result: SendResult
    attempts: int = 1
    skipped: bool = False  # already delivered earlier
    held: str | None = None  # not sent now but held (a HOLD_REASONS value): sent when the hold ends
