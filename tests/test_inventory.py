import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from relay.enrich import VmLookup, enrich
from relay.enrich.arm_ids import VmId, id_key, parse_vm_id, vm_from_id
from relay.enrich.inventory import Inventory, InventoryError
from relay.model import Event, EventKind, MaintenanceState, ResourceHealthChange, Risk

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "inventory.json"
NOW = datetime.fromisoformat("2027-01-12T00:00:00Z")
SUB = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "66666666-7777-8888-9999-000000000000"


def vm_id(name: str, rg: str = "rg-web", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def status(**overrides):
    return {
        "isCustomerInitiatedMaintenanceAllowed": True,
        "preMaintenanceWindowStartTime": "2027-01-06T00:00:00Z",
        "preMaintenanceWindowEndTime": "2027-02-10T00:00:00Z",
        "maintenanceWindowStartTime": "2027-02-12T15:00:00Z",
        "maintenanceWindowEndTime": "2027-02-13T15:00:00Z",
        "lastOperationResultCode": "None",
        "lastOperationMessage": None,
        **overrides,
    }


def vm_entry(name: str, rg: str = "rg-web", sub: str = SUB, **fields):
    return {"id": vm_id(name, rg, sub), "name": name, "resourceGroup": rg, "subscriptionId": sub,
            "location": "japaneast", **fields}


def maintenance(tracking_id="XY12-3ZQ", regions=("Japan East",), subscriptions=(), services=("Virtual Machines",)):
    return Event(kind=EventKind.MAINTENANCE, schema="common", title="Planned maintenance", communication="",
                 tracking_id=tracking_id, regions=regions, subscription_ids=subscriptions, services=services)


def names(vms) -> list[str]:
    return [vm.name for vm in vms]


# --- ARM ids -----------------------------------------------------------------------------------------------

def test_parse_vm_id_in_any_letter_case():
    mixed = f"/subscriptions/{SUB}/resourcegroups/RG-WEB/providers/microsoft.compute/VirtualMachines/VM-Web-01/"
    assert parse_vm_id(mixed) == VmId(SUB, "RG-WEB", "VM-Web-01")
    assert id_key(mixed) == id_key(vm_id("vm-web-01"))


@pytest.mark.parametrize("not_a_vm", [
    "",
    "vm-web-01",
    f"/subscriptions/{SUB}/resourceGroups/rg-web",
    f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Storage/storageAccounts/st01",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/s/virtualMachines/0",
    f"/subscriptions/{SUB}/resourceGroups//providers/Microsoft.Compute/virtualMachines/vm-web-01",
])
def test_parse_vm_id_rejects_other_ids(not_a_vm):
    assert parse_vm_id(not_a_vm) is None
    assert vm_from_id(not_a_vm) is None


def test_vm_from_id_is_a_minimal_vm():
    vm = vm_from_id(vm_id("vm-web-09", "rg-web"))
    assert (vm.name, vm.resource_group, vm.subscription_id, vm.power_state) == ("vm-web-09", "rg-web", SUB, "unknown")
    assert vm.redeploy is None


# --- loading -------------------------------------------------------------------------------------------------

def test_from_dict_reads_every_field():
    inventory = Inventory.from_dict({"vms": [vm_entry(
        "vm-web-01", zones=["1", 2], availabilitySet="as-web", powerState="PowerState/Deallocated",
        publicIpAllocation="Dynamic", tags={"owner": "web-team", "cost": 3},
        maintenanceRedeployStatus=status(lastOperationResultCode="MaintenanceAborted", lastOperationMessage="why"),
    )]})
    (vm,) = inventory.vms
    assert (vm.location, vm.zones, vm.availability_set) == ("japaneast", ("1", "2"), "as-web")
    assert (vm.power_state, vm.public_ip_allocation) == ("powerstate/deallocated", "Dynamic")
    assert vm.tags == {"owner": "web-team", "cost": "3"}
    redeploy = vm.redeploy
    assert redeploy.customer_initiated_allowed is True
    assert redeploy.self_service.start == datetime.fromisoformat("2027-01-06T00:00:00+00:00")
    assert redeploy.scheduled.end == datetime.fromisoformat("2027-02-13T15:00:00+00:00")
    assert (redeploy.last_result, redeploy.last_message) == ("MaintenanceAborted", "why")


def test_only_id_and_name_are_required():
    (vm,) = Inventory.from_dict({"vms": [{"id": vm_id("vm-db-01", "rg-db"), "name": "vm-db-01"}]}).vms
    assert (vm.resource_group, vm.subscription_id) == ("rg-db", SUB)
    assert (vm.zones, vm.availability_set, vm.public_ip_allocation, vm.redeploy) == ((), None, None, None)
    assert vm.power_state == "unknown"


@pytest.mark.parametrize("written, expected", [(True, True), ("true", True), ("True", True), ("FALSE", False),
                                               (False, False), (None, False)])
def test_booleans_may_arrive_as_strings(written, expected):
    entry = vm_entry("vm-web-01", maintenanceRedeployStatus=status(isCustomerInitiatedMaintenanceAllowed=written))
    assert Inventory.from_dict({"vms": [entry]}).vms[0].redeploy.customer_initiated_allowed is expected


@pytest.mark.parametrize("written, expected", [
    ("2027-01-06T09:00:00+09:00", "2027-01-06T00:00:00+00:00"),
    ("2027-01-06T00:00:00.0000000Z", "2027-01-06T00:00:00+00:00"),
    ("2027-01-06T00:00:00", "2027-01-06T00:00:00+00:00"),
])
def test_times_become_utc(written, expected):
    entry = vm_entry("vm-web-01", maintenanceRedeployStatus=status(preMaintenanceWindowStartTime=written))
    start = Inventory.from_dict({"vms": [entry]}).vms[0].redeploy.self_service.start
    assert start.isoformat() == expected


@pytest.mark.parametrize("written, problem", [
    ("9999-12-31T23:59:59Z", "a date after 9998 cannot be shown"),
    ("0001-01-01T00:00:00+09:00", "not an ISO 8601 time"),  # a year-1 time east of UTC is before year 1 in UTC
    ("1899-12-31T00:00:00Z", "a date before 1900 cannot be shown"),
])
def test_times_a_message_cannot_show_are_refused(written, problem):
    entry = vm_entry("vm-web-01", maintenanceRedeployStatus=status(maintenanceWindowEndTime=written))
    [found] = problems_of({"vms": [entry]})
    assert "maintenanceWindowEndTime" in found and problem in found


def problems_of(data) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        Inventory.from_dict(data, source="inv.json")
    assert "inv.json" in str(caught.value)
    return caught.value.problems


def test_missing_vms():
    assert problems_of({"impacted": {}}) == ["$.vms: missing"]
    assert problems_of({"vms": {}}) == ["$.vms: expected a list"]
    assert problems_of([]) == ["$: expected an object"]


def test_every_problem_is_reported_with_its_path():
    data = {
        "impacted": {"XY12-3ZQ": [vm_id("vm-web-01"), "not-an-id"], "AB-1": "oops"},
        "vms": [
            vm_entry("vm-web-01"),
            {"name": "vm-no-id"},
            {"id": vm_id("vm-web-03")},
            "vm-web-04",
            vm_entry("vm-web-05", maintenanceRedeployStatus=status(maintenanceWindowEndTime="next tuesday")),
            vm_entry("vm-web-06", maintenanceRedeployStatus=status(isCustomerInitiatedMaintenanceAllowed="maybe")),
            vm_entry("vm-web-07", zones="1", tags=["a"]),
            {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x", "name": "x"},
            {"id": vm_id("VM-WEB-01").upper(), "name": "vm-web-01"},
        ],
    }
    assert problems_of(data) == [
        "$.vms[1].id: missing",
        "$.vms[2].name: missing",
        "$.vms[3]: expected an object",
        "$.vms[4].maintenanceRedeployStatus.maintenanceWindowEndTime: not an ISO 8601 time: 'next tuesday'",
        "$.vms[5].maintenanceRedeployStatus.isCustomerInitiatedMaintenanceAllowed: "
        "expected true or false, got 'maybe'",
        "$.vms[6].zones: expected a list of zone numbers, got '1'",
        "$.vms[6].tags: expected an object, got ['a']",
        "$.vms[7].id: not a virtual machine id: "
        "'/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x'",
        "$.vms[8].id: the same VM as $.vms[0]",
        "$.impacted[\"XY12-3ZQ\"][1]: not a virtual machine id: 'not-an-id'",
        "$.impacted[\"AB-1\"]: expected a list of VM ids",
    ]


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "inventory.json"
    bad.write_text('{"vms": [}', encoding="utf-8")
    with pytest.raises(InventoryError, match=r"inventory\.json.*\n  \$: not JSON: .*line 1, column 10"):
        Inventory.load(bad)
    with pytest.raises(InventoryError, match="cannot read the file"):
        Inventory.load(tmp_path / "missing.json")
    assert issubclass(InventoryError, ValueError)


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"vms": [vm_entry("vm-web-01")], "extra": 1}), encoding="utf-8")
    inventory = Inventory.load(path)
    assert names(inventory.vms) == ["vm-web-01"]
    assert inventory.source == str(path)


# --- finding the VMs of an event ---------------------------------------------------------------------------

@pytest.fixture
def inventory() -> Inventory:
    return Inventory.from_dict({
        "impacted": {"xy12-3zq": [
            vm_id("VM-WEB-01", "RG-WEB").replace("resourceGroups", "resourcegroups"),
            vm_id("vm-web-09"),
            vm_id("vm-web-01"),
        ]},
        "vms": [
            vm_entry("vm-web-01", maintenanceRedeployStatus=status()),
            vm_entry("vm-web-02", maintenanceRedeployStatus=status(isCustomerInitiatedMaintenanceAllowed=False)),
            vm_entry("vm-web-03", maintenanceRedeployStatus=None),
            vm_entry("vm-db-01", "rg-db", location="japanwest", maintenanceRedeployStatus=status()),
            vm_entry("vm-db-11", "rg-db", OTHER_SUB, maintenanceRedeployStatus=status()),
        ],
    })


def test_impacted_list_by_tracking_id_in_any_case(inventory):
    found = inventory.affected_vms(maintenance(tracking_id="XY12-3ZQ"))
    vms = found.vms
    assert (found.method, found.gaps) == ("impacted list", ())
    assert names(vms) == ["vm-web-01", "vm-web-09"]  # the same VM in two cases counts once
    assert vms[0] is inventory.vms[0]


def test_impacted_ids_missing_from_the_inventory_still_count(inventory):
    vms = inventory.affected_vms(maintenance()).vms
    missing = vms[1]
    assert (missing.name, missing.resource_group, missing.subscription_id) == ("vm-web-09", "rg-web", SUB)
    assert missing.redeploy is None


def test_an_empty_impacted_list_means_none_of_ours():
    inventory = Inventory.from_dict({"impacted": {"XY12-3ZQ": []}, "vms": [vm_entry("vm-web-01",
                                     maintenanceRedeployStatus=status())]})
    assert inventory.affected_vms(maintenance()) == VmLookup([], "impacted list")


def test_fallback_by_region_finds_vms_in_a_wave(inventory):
    found = inventory.affected_vms(maintenance(tracking_id="OTHER-1"))
    vms = found.vms
    assert found.method == "subscription and region"
    assert names(vms) == ["vm-web-01", "vm-web-02", "vm-db-11"]  # not vm-web-03 (no status), not japanwest


def test_fallback_by_subscription_and_region(inventory):
    vms = inventory.affected_vms(maintenance(tracking_id=None, regions=("Japan West", "japaneast"),
                                                subscriptions=(OTHER_SUB.upper(),))).vms
    assert names(vms) == ["vm-db-11"]


def test_fallback_needs_a_region(inventory):
    assert inventory.affected_vms(maintenance(tracking_id="OTHER-1", regions=())) == VmLookup([], "subscription and region")


def test_maintenance_of_another_service_names_no_vms(inventory):
    event = maintenance(tracking_id="OTHER-1", services=("SQL Database",))
    assert inventory.affected_vms(event) == VmLookup([], "none")
    event = maintenance(tracking_id="OTHER-1", services=("SQL Database", "Virtual Machine Scale Sets"))
    assert names(inventory.affected_vms(event).vms) == ["vm-web-01", "vm-web-02", "vm-db-11"]


def resource_health(resource_id: str) -> Event:
    return Event(kind=EventKind.RESOURCE_HEALTH, schema="common", title="VM unavailable", communication="",
                 resource=ResourceHealthChange(resource_id=resource_id, current="Unavailable"))


def test_resource_health_finds_the_vm_in_any_case(inventory):
    found = inventory.affected_vms(resource_health(vm_id("vm-web-02").upper()))
    vms = found.vms
    assert found.method == "resource"
    assert vms == [inventory.vms[1]]


def test_resource_health_on_an_unknown_vm_or_another_resource(inventory):
    found = inventory.affected_vms(resource_health(vm_id("vm-new-01", "rg-new")))
    vms = found.vms
    assert (names(vms), vms[0].resource_group, found.method) == (["vm-new-01"], "rg-new", "resource")
    storage = f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Storage/storageAccounts/st01"
    assert inventory.affected_vms(resource_health(storage)) == VmLookup([], "resource")


@pytest.mark.parametrize("kind", [EventKind.INCIDENT, EventKind.HEALTH_ADVISORY, EventKind.SECURITY])
def test_other_kinds_name_no_vms(inventory, kind):
    event = Event(kind=kind, schema="common", title="t", communication="", tracking_id="XY12-3ZQ",
                  regions=("Japan East",))
    assert inventory.affected_vms(event) == VmLookup([], "none")


def test_enrich_assesses_and_sorts(inventory):
    enriched = enrich(maintenance(tracking_id="OTHER-1"), inventory, NOW)
    assert enriched.lookup == "subscription and region"
    assert enriched.now == NOW
    assert [(a.vm.name, a.state) for a in enriched.vms] == [
        ("vm-db-11", MaintenanceState.START_NOW),
        ("vm-web-01", MaintenanceState.START_NOW),
        ("vm-web-02", MaintenanceState.SCHEDULED),
    ]


# --- availability sets whose other VMs are all deallocated ------------------------------------------------

def test_a_vm_whose_set_has_only_deallocated_others_is_isolated():
    inventory = Inventory.from_dict({
        "impacted": {"XY12-3ZQ": [vm_id("vm-a1"), vm_id("vm-a2"), vm_id("vm-b1"), vm_id("vm-c1")]},
        "vms": [
            # as-a: vm-a1 runs, both others are deallocated (in either spelling)
            vm_entry("vm-a1", availabilitySet="as-a", powerState="running", maintenanceRedeployStatus=status()),
            vm_entry("vm-a2", availabilitySet="AS-A", powerState="deallocated", maintenanceRedeployStatus=status()),
            vm_entry("vm-a3", availabilitySet="as-a", powerState="PowerState/deallocated"),
            # as-b: one other runs
            vm_entry("vm-b1", availabilitySet="as-b", powerState="running", maintenanceRedeployStatus=status()),
            vm_entry("vm-b2", availabilitySet="as-b", powerState="deallocated"),
            vm_entry("vm-b3", availabilitySet="as-b", powerState="running"),
            # as-c: alone in its set
            vm_entry("vm-c1", availabilitySet="as-c", powerState="running", maintenanceRedeployStatus=status()),
            # a set of the same name in another resource group is another set
            vm_entry("vm-d1", "rg-other", availabilitySet="as-c", powerState="deallocated"),
        ],
    })
    enriched = {a.vm.name: a for a in enrich(maintenance(), inventory, NOW).vms}
    assert enriched["vm-a1"].risks == (Risk.ISOLATED,)
    assert enriched["vm-a2"].risks == (Risk.DEALLOCATED,)  # itself deallocated: not rebooted, so not isolated
    assert (enriched["vm-a2"].state, enriched["vm-a1"].state) == (MaintenanceState.UNKNOWN, MaintenanceState.START_NOW)
    assert enriched["vm-b1"].risks == ()
    assert enriched["vm-c1"].risks == ()  # no other VM in its set to be stopped


def test_a_vm_named_only_by_the_impacted_list_has_no_set_to_judge():
    inventory = Inventory.from_dict({"impacted": {"XY12-3ZQ": [vm_id("vm-x")]}, "vms": [
        vm_entry("vm-y", availabilitySet="as-x", powerState="deallocated")]})
    (affected,) = enrich(maintenance(), inventory, NOW).vms
    assert Risk.ISOLATED not in affected.risks


# --- the example inventory ---------------------------------------------------------------------------------

def test_example_inventory_covers_every_state_and_risk():
    inventory = Inventory.load(EXAMPLE)
    enriched = enrich(maintenance(), inventory, NOW)
    assert enriched.lookup == "impacted list"
    assert len(enriched.vms) == len(json.loads(EXAMPLE.read_text(encoding="utf-8"))["impacted"]["XY12-3ZQ"])
    assert all(a.vm in inventory.vms for a in enriched.vms)  # every impacted id, whatever its case, is known
    states = Counter(a.state for a in enriched.vms)
    # Not Retry later: the example's RetryLater VMs may be started now (isCustomerInitiatedMaintenanceAllowed
    # is true), so they read as Retry now. Not "not in this wave": its VMs without a status are deallocated.
    shown = set(MaintenanceState) - {MaintenanceState.RETRY_LATER, MaintenanceState.NONE}
    assert all(states[state] >= 2 for state in shown), states
    assert {risk for a in enriched.vms for risk in a.risks} == set(Risk)
    isolated = [a.vm.name for a in enriched.vms if Risk.ISOLATED in a.risks]
    assert isolated == ["vm-db-04"]  # vm-db-05, the other VM of as-db, is deallocated
    assert len({a.self_service_deadline for a in enriched.vms if a.self_service_deadline}) >= 2


def test_example_inventory_shape():
    inventory = Inventory.load(EXAMPLE)
    by_name = {vm.name: vm for vm in inventory.vms}
    assert by_name["vm-web-02"].resource_group == "rg-web"
    assert {vm.subscription_id for vm in inventory.vms} == {SUB, OTHER_SUB}
    assert {vm.location for vm in inventory.vms} == {"japaneast", "japanwest"}
    assert any(vm.zones for vm in inventory.vms) and any(vm.availability_set for vm in inventory.vms)
