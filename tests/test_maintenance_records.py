"""The VMs' maintenance records (Resource Graph `maintenanceresources`) in place of their instance views.

What a record says, as the instance view would say it; the cross-check that both give every VM the same state
and windows on the same emulated estate, whether the table answers for every VM, for part of them or for none;
the instance view for exactly the VMs whose record does not answer; the alert's maintenanceId; and maintenance
whose resources Azure does not list."""
import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.enrich import NOT_LISTED, enrich
from relay.enrich.arm_ids import id_key
from relay.enrich.azure import graph, records
from relay.enrich.state import assess
from relay.model import MaintenanceState, RedeployStatus, Vm, Window
from relay.render import render
from relay.store import event_from_record, event_record
from tests import factories as f
from tests.emulator import ArmEmulator, Estate
from tests.emulator.estate import NOW, EstateVm
from tests.test_enrich_azure import maintenance, source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "alerts"
T = datetime(2026, 1, 23, 3, 0, tzinfo=UTC)
LATER = T + timedelta(days=3)


# --- what a record says ------------------------------------------------------------------------------------------

def row(status, not_before="2026-01-23T03:00:00Z", end="2026-01-26T03:00:00Z") -> dict:
    return {"id": "/x", "targetId": "/x", "status": status, "notBefore": not_before, "endTimeUtc": end}


@pytest.mark.parametrize(("status", "allowed", "result", "state"), [
    ("Pending", True, None, MaintenanceState.START_NOW),
    ("RetryNow", True, "RetryNow", MaintenanceState.RETRY_NOW),
    ("retrylater", False, "RetryLater", MaintenanceState.RETRY_LATER),
    ("Completed", False, "Completed", MaintenanceState.ALREADY_UPDATED),
])
def test_a_record_says_what_the_instance_view_would(status, allowed, result, state):
    answered, redeploy = records.answer(row(status))
    assert answered and redeploy == RedeployStatus(customer_initiated_allowed=allowed, self_service=Window(end=T),
                                                   scheduled=Window(T, LATER), last_result=result)
    vm = Vm(id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm", name="vm",
            resource_group="g", subscription_id="s", redeploy=redeploy)
    assert assess(vm, NOW).state is state
    after = assess(vm, T + timedelta(hours=1)).state  # notBefore passed: Azure's scheduled window has begun
    assert after is (state if state is MaintenanceState.ALREADY_UPDATED else MaintenanceState.SCHEDULED)


def test_a_vm_whose_record_says_no_updates_pending_is_not_in_the_wave():
    assert records.answer(row("NoUpdatesPending", "", "")) == (True, None)
    assert records.answer(row("Completed", "", "")) == (True, RedeployStatus(last_result="Completed"))


@pytest.mark.parametrize("lacking", [
    row("InProgress"), row("Cancelled"), row(""), row("Pending", not_before=""), row("RetryLater", end=""),
    row("RetryNow", not_before="soon"), {"targetId": "/x"},
])
def test_a_record_without_what_a_message_needs_does_not_answer(lacking):
    assert records.answer(lacking) == (False, None)


def test_the_query_finds_a_record_by_trackingid_or_by_maintenanceid_and_checks_both():
    text = records.query("XY12-3ZQ", "D1D1D1D1-0000-4111-8222-333333333333")
    assert "tostring(entry.notificationId) =~ 'xy12-3zq'" in text
    assert "or tostring(entry.properties.plannedMaintenanceId) =~ 'd1d1d1d1-0000-4111-8222-333333333333'" in text
    assert "plannedMaintenanceId" not in records.query("XY12-3ZQ")
    for bad in (("XY12' or 1==1 //", None), ("XY12-3ZQ", "x'")):
        with pytest.raises(ValueError):
            records.query(*bad)


def test_subscriptions_go_fewer_than_300_a_query():
    subscriptions = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(600)]
    assert [len(batch or ()) for batch in graph.batches(subscriptions)] == [299, 299, 2]
    assert graph.batches(None) == [None]


def test_the_alert_says_its_maintenance_id_and_the_ledger_keeps_it():
    event = parse_alert((EXAMPLES / "01-planned.json").read_bytes())
    assert event.maintenance_id == "d1d1d1d1-0000-4111-8222-333333333333"
    assert event_from_record(event_record(event)).maintenance_id == event.maintenance_id
    older = json.loads(event_record(event))
    del older["maintenance_id"]  # kept before the field was
    assert event_from_record(json.dumps(older)).maintenance_id is None


# --- the cross-check: records and instance views, VM by VM -------------------------------------------------------

def seen(vms) -> dict[str, tuple]:
    """Each VM as a message shows it: its state now, the self-service deadline and Azure's scheduled window."""
    return {id_key(vm.id): (assess(vm, NOW).state, vm.redeploy.self_service.end if vm.redeploy else None,
                            vm.redeploy.scheduled if vm.redeploy else None) for vm in vms}


@pytest.mark.parametrize("recorded", [1.0, 0.6, 0.0])
def test_records_and_instance_views_give_each_vm_the_same_state_and_windows(ca, recorded):
    estate = Estate(vms=60, subscriptions=3, scale_sets=2, instances=4, impacted_instances=3, recorded=recorded)
    retrying = estate.impacted()[0]  # a failed attempt that can be retried now
    retrying.redeploy = {**retrying.redeploy, "lastOperationResultCode": "MaintenanceAborted"}
    plain = [vm for vm in estate.impacted() if not vm.scale_set]
    unrecorded = sum(not vm.recorded for vm in plain)
    assert (unrecorded == 0) == (recorded == 1.0) and (unrecorded == len(plain)) == (recorded == 0.0)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
        read = emu.calls["instance view"]
        for vm in estate.vms:
            vm.recorded = False  # the same estate, the table answering for none
        viewed = source(emu).affected_vms(maintenance(estate))
    assert found.gaps == viewed.gaps == ()
    assert seen(found.vms) == seen(viewed.vms)
    assert read == unrecorded  # the records answered for every other VM
    assert len(answered_by_records(found)) == len(plain) - unrecorded and not answered_by_records(viewed)
    states = {state for state, _, _ in seen(found.vms).values()}
    assert states == {MaintenanceState.START_NOW, MaintenanceState.RETRY_NOW, MaintenanceState.SCHEDULED,
                      MaintenanceState.RETRY_LATER, MaintenanceState.ALREADY_UPDATED, MaintenanceState.NONE,
                      MaintenanceState.UNKNOWN}  # UNKNOWN: deallocated
    assert {vm.zones for vm in found.vms} >= {("1",), ("2",), ("3",)}
    assert sum("/virtualMachineScaleSets/" in vm.id for vm in found.vms) == 6


def answered_by_records(found) -> set[str]:
    return {id_key(vm.id) for vm in found.vms if vm.state_source == "maintenance record"}


def test_each_vm_says_where_its_state_was_read_and_only_the_unrecorded_are_viewed(ca):
    estate = Estate(vms=40, subscriptions=2, scale_sets=1, recorded=0.5)
    with ArmEmulator(estate, tls=ca) as emu:
        src = source(emu)
        found = src.affected_vms(maintenance(estate))
    by_key = {id_key(vm.id): vm for vm in found.vms}
    recorded = [vm for vm in estate.impacted() if vm.recorded and not vm.scale_set]
    unrecorded = [vm for vm in estate.impacted() if not vm.recorded and not vm.scale_set]
    assert recorded and unrecorded
    assert {by_key[id_key(vm.id)].state_source for vm in recorded} == {"maintenance record"}
    assert {by_key[id_key(vm.id)].state_source for vm in unrecorded} == {"instance view"}
    assert {by_key[id_key(vm.id)].state_source for vm in estate.impacted() if vm.scale_set} == {"instance view"}
    assert emu.calls["instance view"] == len(unrecorded)  # exactly those: one call each
    assert src.stats["from records"] == len(recorded)
    assert emu.graph_queries["records"] == 1 and max(emu.graph_scopes) < 300


# --- which records answer ------------------------------------------------------------------------------------------

def test_the_maintenance_id_finds_the_records_that_carry_only_it(ca):
    estate = Estate(vms=30, subscriptions=1)
    only_planned_id = [vm for vm in estate.impacted() if "notificationId" not in record_update_of(estate, vm)]
    assert only_planned_id
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).lookup(estate.tracking_id)  # `relay vms` knows the trackingId only
        without = emu.calls["instance view"]
        source(emu).affected_vms(maintenance(estate))  # the alert also says its maintenanceId
    assert without == len(only_planned_id) and emu.calls["instance view"] == without
    assert {vm.state_source for vm in found.vms if id_key(vm.id) in {id_key(v.id) for v in only_planned_id}} \
        == {"instance view"}


def record_update_of(estate: Estate, vm: EstateVm) -> dict:
    """The VM's Host update of this maintenance, as the emulator serves it."""
    from tests.emulator.records import record

    (update,) = [u for u in record(vm, estate.tracking_id, estate.maintenance_id)["properties"]["value"]
                 if u["maintenanceScope"] == "Host"]
    return update


def test_a_record_that_lacks_a_time_or_is_in_progress_leaves_its_vm_to_its_instance_view(ca):
    estate = Estate(vms=10, subscriptions=1)
    start_now = [vm for vm in estate.impacted() if vm.redeploy and vm.redeploy["isCustomerInitiatedMaintenanceAllowed"]]
    start_now[0].record_update = {"endTimeUtc": None}
    start_now[1].record_update = {"status": "InProgress", "properties": {"plannedMaintenanceStatus": "InProgress"}}
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert emu.calls["instance view"] == 2
    by_name = {vm.name: vm for vm in found.vms}
    assert {by_name[vm.name].state_source for vm in start_now[:2]} == {"instance view"}
    assert all(assess(by_name[vm.name], NOW).state is MaintenanceState.START_NOW for vm in start_now)


def test_a_records_query_that_fails_leaves_every_vm_to_its_instance_view_and_no_gap(ca):
    estate = Estate(vms=12, subscriptions=2)
    with ArmEmulator(estate, tls=ca, records_down=True) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 12 and found.gaps == ()
    assert emu.calls["instance view"] == 12 and {vm.state_source for vm in found.vms} == {"instance view"}


# --- maintenance whose resources Azure does not list ---------------------------------------------------------------

def test_maintenance_whose_resources_azure_does_not_list_is_said_so(ca):
    estate = Estate(vms=4, subscriptions=2)
    other = replace(maintenance(estate), tracking_id="LM00-7QX", maintenance_id=None)  # a live migration, say
    with ArmEmulator(estate, tls=ca) as emu:
        enriched = enrich(other, source(emu), f.NOW)
        listed = enrich(maintenance(estate), source(emu), f.NOW)
    assert (enriched.vms, enriched.lookup, enriched.gaps) == ((), NOT_LISTED, ())
    assert listed.lookup == "impacted list"


def not_listed_body(channel: str, audience: str = "oncall") -> str:
    notification = f.notification(vms=(), lookup=NOT_LISTED)
    body = render(notification, replace(f.receiver(channel, "both"), audience=audience)).body
    if channel != "email":
        return json.dumps(json.loads(body), ensure_ascii=False)
    message = email.message_from_bytes(body, policy=email.policy.default)
    return message["Subject"] + "\n" + "\n".join(
        part.get_content() for part in message.walk() if part.get_content_type() == "text/plain")


@pytest.mark.parametrize("channel", ["teams", "slack", "email"])
def test_a_message_says_azure_does_not_list_the_resources_not_none_of_ours(channel):
    text = not_listed_body(channel)
    assert "Azure はこのメンテナンスの影響を受けるリソースを示していません" in text
    assert "Azure does not list the resources this maintenance affects" in text
    assert "【対象 VM 不明】" in text and "[VMs not listed]" in text
    assert "VM 再起動" not in text and "VM reboot" not in text  # it may reboot none
    for none_of_ours in ("当社の VM は対象外", "none of our VMs", "None of our VMs", "見つかりませんでした"):
        assert none_of_ours not in text


def test_the_managers_email_says_whether_our_vms_are_affected_is_not_known():
    text = not_listed_body("email", audience="managers")
    assert "当社の VM が対象かどうかは分かりません" in text
    assert "whether it affects our VMs is not known" in text
    assert "affects none of our VMs" not in text and "当社の VM は対象外" not in text


def test_a_teams_card_of_a_maintenance_azure_does_not_list_is_a_valid_adaptive_card(tmp_path):
    from tests.render_fixtures import assert_cards_valid

    notification = f.notification(vms=(), lookup=NOT_LISTED)
    assert_cards_valid({"not listed": render(notification, f.receiver("teams", "both")).body}, tmp_path)
