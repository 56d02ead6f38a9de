"""The maintenance planner: which VMs start, which are skipped and why, and waves that never hold two
VMs of one availability set, scale set or zone (of one subscription and region), nor more than asked."""
from dataclasses import replace

import pytest

from relay.enrich.state import assess
from relay.maintain.plan import Skip, groups, in_scope, plan, waves
from relay.model import MaintenanceState as S
from tests.factories import NOW, SUB, SUB2, make_vm


def names(planned) -> list[list[str]]:
    return [[a.vm.name for a in wave] for wave in planned.waves]


def scale_set_vm(instance: int, scale_set: str = "vmss-web", update_domain: int | None = None):
    base = make_vm(f"{scale_set}_{instance}", zones=(), availability_set=scale_set, resource_group="rg-vmss")
    vm = replace(base.vm, id=f"/subscriptions/{SUB}/resourceGroups/rg-vmss/providers/Microsoft.Compute"
                            f"/virtualMachineScaleSets/{scale_set}/virtualMachines/{instance}",
                 update_domain=update_domain)
    return assess(vm, NOW)


def test_only_start_now_and_retry_now_vms_are_chosen_the_rest_skipped_with_why():
    vms = [make_vm("a", S.START_NOW), make_vm("b", S.RETRY_NOW, zones=("2",)), make_vm("c", S.SCHEDULED),
           make_vm("d", S.ALREADY_UPDATED), make_vm("e", S.RETRY_LATER), make_vm("f", S.NONE),
           make_vm("g", S.UNKNOWN, zones=("3",))]  # deallocated: its state is unknown, whatever its status says
    planned = plan(vms, 5)
    assert sorted(a.vm.name for a in planned.chosen) == ["a", "b"]
    assert {s.vm.name: s.reason for s in planned.skipped} == {
        "c": Skip.SCHEDULED, "d": Skip.ALREADY_UPDATED, "e": Skip.RETRY_LATER, "f": Skip.NOT_IN_WAVE,
        "g": Skip.DEALLOCATED}


def test_unknown_vms_are_skipped_as_unknown():
    missing = make_vm("gone").vm
    assert [(s.vm.name, s.reason) for s in plan([], 5, (missing,)).skipped] == [("gone", Skip.UNKNOWN)]


def test_no_two_of_one_availability_set_in_a_wave():
    vms = [make_vm(f"vm-{i}", zones=(), availability_set="as-web") for i in range(3)] + \
          [make_vm("other", zones=(), availability_set="as-db")]
    assert [len(wave) for wave in names(plan(vms, 5))] == [2, 1, 1]
    for wave in plan(vms, 5).waves:
        assert len({a.vm.availability_set for a in wave}) == len(wave)


def test_availability_sets_of_the_same_name_in_other_groups_or_subscriptions_do_not_clash():
    vms = [make_vm("a", zones=(), availability_set="as"), make_vm("b", zones=(), availability_set="as",
                                                                  resource_group="rg-other"),
           make_vm("c", zones=(), availability_set="as", subscription_id=SUB2)]
    assert names(plan(vms, 5)) == [["a", "b", "c"]]


def test_zonal_vms_one_a_zone_of_a_subscription_and_region_regional_vms_unconstrained():
    vms = [make_vm("z1-a", zones=("1",)), make_vm("z1-b", zones=("1",)), make_vm("z2", zones=("2",)),
           make_vm("z1-west", zones=("1",), location="japanwest"),
           make_vm("z1-other-sub", zones=("1",), subscription_id=SUB2),  # its zone 1 may be elsewhere
           make_vm("regional-a", zones=()), make_vm("regional-b", zones=())]
    planned = plan(vms, 10)
    assert len(planned.waves) == 2
    assert "z1-b" in names(planned)[1] and len(names(planned)[1]) == 1


def test_scale_set_vms_one_at_a_time():
    vms = [scale_set_vm(i) for i in range(3)] + [scale_set_vm(0, "vmss-api")]
    planned = plan(vms, 5)
    assert [len(wave) for wave in planned.waves] == [2, 1, 1]
    assert groups(vms[0].vm) == {("scale set", SUB, "rg-vmss", "vmss-web")}


def test_vms_of_one_set_share_a_wave_only_in_one_known_update_domain():
    vms = [scale_set_vm(i, update_domain=i % 2) for i in range(6)] + [scale_set_vm(6)]  # the last: not known
    planned = plan(vms, 5)
    for wave in planned.waves:
        domains = {a.vm.update_domain for a in wave}
        assert len(domains) == 1 and (None not in domains or len(wave) == 1)
    assert sorted(len(wave) for wave in planned.waves) == [1, 3, 3]
    zonal = [replace(make_vm(f"z-{i}", zones=("1",), availability_set="as-1").vm, update_domain=0) for i in range(2)]
    assert [len(wave) for wave in plan([assess(vm, NOW) for vm in zonal], 5).waves] == [1, 1]  # one zone: apart


def test_at_most_max_parallel_a_wave_and_most_urgent_first():
    vms = [make_vm(f"vm-{i}", zones=()) for i in range(7)]
    assert [len(wave) for wave in waves(vms, 3)] == [3, 3, 1]
    with pytest.raises(ValueError):
        waves(vms, 0)


def test_neighbours_are_the_others_of_its_set_whatever_their_state():
    a, b = make_vm("a", zones=(), availability_set="as"), make_vm("b", S.SCHEDULED, zones=(), availability_set="as")
    planned = plan([a, b], 5)
    assert [n.vm.name for n in planned.neighbours(a.vm)] == ["b"]
    assert planned.wave_of(a.vm) == 1 and planned.wave_of(b.vm) is None


def test_scope_by_resource_group_and_tags():
    vm = make_vm("a", resource_group="RG-Web", tags={"Env": "prod", "owner": "web"}).vm
    assert in_scope(vm, ("rg-web",), (("env", "prod"),))
    assert in_scope(vm, (), ())
    assert not in_scope(vm, ("rg-db",), ())
    assert not in_scope(vm, (), (("env", "dev"),))
