"""Builders of Notifications for the render tests: realistic defaults, any field overridable.

VM states are not set by hand: each VM gets the maintenanceRedeployStatus that relay.enrich.state reads
as the wanted state, so the rows are what enrich would produce.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

from relay.enrich.state import assess, by_urgency
from relay.model import (
    AffectedVm,
    Criterion,
    Enriched,
    Event,
    EventKind,
    MaintenanceState,
    MonitorAlert,
    Notification,
    PriorNotice,
    Receiver,
    RedeployStatus,
    ResourceHealthChange,
    Vm,
    Window,
)
from relay.pipeline import Relay

NOW = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)  # 12:00 JST
SUB = "0a1b2c3d-1111-2222-3333-444455556666"
SUB2 = "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"
TRACKING = "XY12-3ZQ"
SELF_SERVICE = Window(datetime(2026, 1, 6, 0, 0, tzinfo=UTC), datetime(2026, 1, 23, 7, 30, tzinfo=UTC))
SCHEDULED = Window(datetime(2026, 1, 24, 15, 0, tzinfo=UTC), datetime(2026, 1, 25, 3, 0, tzinfo=UTC))
EVENT_WINDOW = Window(datetime(2026, 1, 24, 15, 0, tzinfo=UTC), datetime(2026, 1, 25, 3, 0, tzinfo=UTC))
COMMUNICATION = (
    "Azure is planning maintenance to apply updates to the host infrastructure of Virtual Machines in Japan East.\n\n"
    "Most VMs are not affected. VMs that need a reboot are listed in the portal; you can start maintenance "
    "yourself during the self-service window, or Azure will perform it during the scheduled window."
)


RETRY_LATER_MESSAGE = "Maintenance cannot be performed on the VM now. Retry later."
ABORTED_MESSAGE = "Maintenance was aborted because the VM did not respond. Retry the maintenance."


def redeploy_for(state: MaintenanceState, now: datetime = NOW) -> RedeployStatus | None:
    """The redeploy status relay.enrich.state.state_of reads as `state` at `now` (UNKNOWN: any status, for it is
    the VM's power state, deallocated, that makes it)."""
    if state is MaintenanceState.NONE:
        return None
    if state is MaintenanceState.ALREADY_UPDATED:
        return RedeployStatus(True, SELF_SERVICE, SCHEDULED, "MaintenanceCompleted")
    if state is MaintenanceState.RETRY_LATER:
        return RedeployStatus(False, SELF_SERVICE, SCHEDULED, "RetryLater", RETRY_LATER_MESSAGE)
    if state is MaintenanceState.RETRY_NOW:
        return RedeployStatus(True, SELF_SERVICE, SCHEDULED, "MaintenanceAborted", ABORTED_MESSAGE)
    if state in (MaintenanceState.START_NOW, MaintenanceState.UNKNOWN):  # unknown: deallocated, whatever it says
        return RedeployStatus(True, SELF_SERVICE, SCHEDULED, "None")
    return RedeployStatus(False, SELF_SERVICE, SCHEDULED, "None")


def make_vm(
    name: str = "vm-web-01",
    state: MaintenanceState = MaintenanceState.START_NOW,
    *,
    resource_group: str = "rg-web",
    subscription_id: str = SUB,
    location: str = "japaneast",
    zones: tuple[str, ...] = ("1",),
    availability_set: str | None = None,
    power_state: str | None = None,  # deallocated for UNKNOWN, else running
    public_ip_allocation: str | None = "Static",
    tags: dict[str, str] | None = None,
    now: datetime = NOW,
) -> AffectedVm:
    vm = Vm(
        id=f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name,
        resource_group=resource_group,
        subscription_id=subscription_id,
        location=location,
        zones=zones,
        availability_set=availability_set,
        power_state=power_state or ("deallocated" if state is MaintenanceState.UNKNOWN else "running"),
        public_ip_allocation=public_ip_allocation,
        tags=tags or {},
        redeploy=redeploy_for(state, now),
    )
    affected = assess(vm, now)
    assert affected.state is state, (name, affected.state, state)
    return affected


def typical_vms() -> tuple[AffectedVm, ...]:
    """One of each state, with each risk somewhere, in urgency order."""
    return by_urgency(
        [
            make_vm("vm-web-01", MaintenanceState.START_NOW, zones=(), public_ip_allocation="Dynamic"),
            make_vm("vm-web-02", MaintenanceState.RETRY_NOW),
            make_vm("vm-db-01", MaintenanceState.SCHEDULED, resource_group="rg-db", subscription_id=SUB2),
            make_vm("vm-batch-01", MaintenanceState.RETRY_LATER, availability_set="as-batch", zones=()),
            make_vm("vm-old-01", MaintenanceState.ALREADY_UPDATED),
            make_vm("vm-stopped-01", MaintenanceState.UNKNOWN),
        ]
    )


@cache
def many_vms(n: int) -> tuple[AffectedVm, ...]:
    """n VMs over every state, as a 10,000-VM wave would bring them (built once per n: they are immutable)."""
    states = list(MaintenanceState)
    vms = [
        make_vm(
            f"vm-{i:05d}",
            states[i % len(states)],
            resource_group=f"rg-app-{i % 37:02d}",
            subscription_id=SUB if i % 2 else SUB2,
            zones=() if i % 5 == 0 else ("2",),
            public_ip_allocation="Dynamic" if i % 7 == 0 else None,
        )
        for i in range(n)
    ]
    return by_urgency(vms)


def maintenance_event(**overrides) -> Event:
    fields = dict(
        kind=EventKind.MAINTENANCE,
        schema="common",
        title="Planned maintenance for Virtual Machines - Japan East",
        communication=COMMUNICATION,
        tracking_id=TRACKING,
        communication_id="11223344",
        stage="Planned",
        level="Informational",
        status="Active",
        services=("Virtual Machines",),
        regions=("Japan East",),
        subscription_ids=(SUB,),
        window=EVENT_WINDOW,
        event_time=NOW - timedelta(hours=1),
    )
    fields.update(overrides)
    return Event(**fields)


def notification(
    event: Event | None = None,
    vms: tuple[AffectedVm, ...] | None = None,
    *,
    prior: PriorNotice | None = None,
    lookup: str = "impacted list",
    now: datetime = NOW,
) -> Notification:
    event = event or maintenance_event()
    if vms is None:
        vms = typical_vms() if event.kind is EventKind.MAINTENANCE else ()
    return Notification(enriched=Enriched(event=event, now=now, vms=vms, lookup=lookup), prior=prior)


PRIOR_WINDOW = Window(datetime(2026, 1, 17, 15, 0, tzinfo=UTC), datetime(2026, 1, 18, 3, 0, tzinfo=UTC))


def planned() -> Notification:
    return notification()


def rescheduled_update() -> Notification:
    return notification(
        maintenance_event(stage="Rescheduled", communication_id="11223355"),
        prior=PriorNotice(stage="Planned", window=PRIOR_WINDOW, sent_at=NOW - timedelta(days=3)),
    )


def complete() -> Notification:
    vms = by_urgency([make_vm(f"vm-web-0{i}", MaintenanceState.ALREADY_UPDATED) for i in range(1, 4)])
    return notification(
        maintenance_event(stage="Complete", communication_id="11223366"),
        vms,
        prior=PriorNotice(stage="InProgress", window=EVENT_WINDOW, sent_at=NOW - timedelta(hours=5)),
    )


def canceled() -> Notification:
    return notification(
        maintenance_event(stage="Canceled", communication_id="11223377"),
        prior=PriorNotice(stage="Planned", window=EVENT_WINDOW, sent_at=NOW - timedelta(days=1)),
    )


def in_progress() -> Notification:
    return notification(
        maintenance_event(stage="InProgress", communication_id="11223388"),
        prior=PriorNotice(stage="Planned", window=EVENT_WINDOW, sent_at=NOW - timedelta(days=1)),
    )


def emergency() -> Notification:
    return notification(
        maintenance_event(
            title="Emergency maintenance for Virtual Machines - Japan West",
            level="Warning",
            tracking_id="EM99-7KL",
            regions=("Japan West",),
        )
    )


def zero_vms() -> Notification:
    return notification(vms=(), lookup="subscription and region")


def ten_thousand() -> Notification:
    return notification(vms=many_vms(10_000))


def incident() -> Notification:
    return notification(
        maintenance_event(
            kind=EventKind.INCIDENT,
            title="Storage - Japan East - Degraded performance",
            communication="Starting at 01:10 UTC on 20 Jan 2026, a subset of customers using Storage in Japan East "
            "may experience degraded performance. Engineers are investigating.",
            tracking_id="AB3C-DEF",
            stage="Active",
            level="Error",
            services=("Storage",),
            window=Window(datetime(2026, 1, 20, 1, 10, tzinfo=UTC), None),
        ),
        lookup="none",
    )


def health_advisory() -> Notification:
    return notification(
        maintenance_event(
            kind=EventKind.HEALTH_ADVISORY,
            title="Action recommended: retire Basic SKU public IPs",
            tracking_id="HA11-222",
            stage="Active",
            window=Window(datetime(2026, 9, 30, 0, 0, tzinfo=UTC), None),
        ),
        lookup="none",
    )


def security() -> Notification:
    return notification(
        maintenance_event(
            kind=EventKind.SECURITY,
            title="Security advisory: update the VM agent",
            tracking_id="SE77-ABC",
            stage="Active",
            window=Window(NOW, None),
        ),
        lookup="none",
    )


def resource_health() -> Notification:
    vm = make_vm("vm-app-07", MaintenanceState.NONE, resource_group="rg-app", zones=())
    rid = vm.vm.id
    return notification(
        Event(
            kind=EventKind.RESOURCE_HEALTH,
            schema="common",
            title="Virtual machine vm-app-07 is unavailable",
            communication="The virtual machine is unavailable because the host it runs on is being rebooted.",
            alert_id="/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/aaaa-bbbb",
            event_data_id="c0ffee00-1234",
            level="Critical",
            status="Active",
            subscription_ids=(SUB,),
            window=Window(NOW - timedelta(minutes=20), None),
            event_time=NOW - timedelta(minutes=20),  # eventTimestamp: when the health changed
            resource=ResourceHealthChange(
                resource_id=rid,
                current="Unavailable",
                previous="Available",
                cause="PlatformInitiated",
                type="Downtime",
                details="Host server reboot",
            ),
        ),
        (vm,),
        lookup="resource",
    )


CIRCUIT = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/expressRouteCircuits/er-tokyo-01"
FIRED_AT = NOW - timedelta(minutes=35)


def metric_alert(**overrides) -> MonitorAlert:
    fields = dict(
        severity="Sev1",
        monitor_condition="Fired",
        service="Platform",
        signal="Metric",
        rule="er-tokyo-bits-in-low",
        targets=(CIRCUIT,),
        items=("er-tokyo-01",),
        target_type="Microsoft.Network/expressRouteCircuits",
        target_group="rg-network",
        fired=FIRED_AT,
        criteria=(Criterion(metric="BitsInPerSecond", operator="LessThan", threshold="1000000", value="1250.5",
                            aggregation="Average", dimensions=(("PeeringType", "AzurePrivatePeering"),)),),
        window_size="PT5M",
        window=Window(FIRED_AT - timedelta(minutes=5), FIRED_AT),
    )
    fields.update(overrides)
    return MonitorAlert(**fields)


def alert_event(alert: MonitorAlert, **overrides) -> Event:
    fields = dict(
        kind=EventKind.ALERT,
        schema="common",
        title=alert.rule or "",
        communication="Traffic into the Tokyo ExpressRoute circuit has dropped: check the on-premises routers.",
        alert_id=f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/0f1e2d3c-0000-4000-8000-00000000e001",
        stage=alert.monitor_condition,
        subscription_ids=(SUB,),
        event_time=alert.resolved or alert.fired,
        alert=alert,
    )
    fields.update(overrides)
    return Event(**fields)


def alert_fired() -> Notification:
    return notification(alert_event(metric_alert()), lookup="none")


def alert_resolved() -> Notification:
    alert = metric_alert(monitor_condition="Resolved", resolved=NOW - timedelta(minutes=2))
    return notification(alert_event(alert), lookup="none",
                        prior=PriorNotice(stage="Fired", window=Window(), sent_at=FIRED_AT))


def log_alert() -> Notification:
    results = "https://portal.azure.com#@tenant/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/q/heartbeat"
    alert = metric_alert(
        severity="Sev2", service="Log Alerts V2", signal="Log", rule="vm-heartbeat-missing",
        targets=(f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web-01",),
        items=("vm-web-01",), target_type="Microsoft.Compute/virtualMachines", target_group="rg-web",
        criteria=(Criterion(query="Heartbeat | summarize count() by Computer", operator="LowerThan", threshold="1",
                            value="0", aggregation="Count", dimensions=(("Computer", "vm-web-01"),)),),
        window_size="PT15M", links=(("results", results),),
    )
    return notification(alert_event(alert, communication=""), lookup="none")


SCENARIOS = {
    "planned": planned,
    "rescheduled_update": rescheduled_update,
    "complete": complete,
    "canceled": canceled,
    "in_progress": in_progress,
    "emergency": emergency,
    "zero_vms": zero_vms,
    "incident": incident,
    "health_advisory": health_advisory,
    "security": security,
    "resource_health": resource_health,
    "ten_thousand": ten_thousand,
    "alert_fired": alert_fired,
    "alert_resolved": alert_resolved,
    "log_alert": log_alert,
}
LANGUAGES = ("ja", "en", "both")


def receiver(channel: str, language: str = "both", **options: str) -> Receiver:
    return Receiver(name=f"{channel}-{language}", channel=channel, language=language, options=dict(options))


def with_vm_names(n: Notification, *names: str) -> Notification:
    """The notification with its first VMs renamed (for injection tests)."""
    vms = list(n.enriched.vms)
    for i, name in enumerate(names):
        vms[i] = replace(vms[i], vm=replace(vms[i].vm, name=name))
    return replace(n, enriched=replace(n.enriched, vms=tuple(vms)))


def sending_relay(ledger, channel, now: datetime | None = None) -> Relay:
    """A relay that only sends: one channel for every receiver, no VMs or routes, no sleeping. A new one on the same
    ledger storage is the process started again after a crash."""
    relay = Relay(ledger=ledger, vms=None, routes=None, channel_for=lambda receiver: channel, sleep=lambda seconds: None)
    if now is not None:
        relay.clock = lambda: now
    return relay
