from datetime import datetime

import pytest

from relay.enrich.state import assess, by_urgency, count_by_state, risks_of, state_of
from relay.model import MaintenanceState as S
from relay.model import RedeployStatus, Risk, Vm, Window


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


SELF_SERVICE = Window(utc("2027-01-06T00:00:00Z"), utc("2027-02-10T00:00:00Z"))
SCHEDULED = Window(utc("2027-02-12T15:00:00Z"), utc("2027-02-13T15:00:00Z"))

BEFORE = utc("2027-01-01T00:00:00Z")
INSIDE = utc("2027-01-12T00:00:00Z")
SELF_SERVICE_END = utc("2027-02-10T00:00:00Z")
BETWEEN = utc("2027-02-11T00:00:00Z")
DURING_SCHEDULED = utc("2027-02-13T00:00:00Z")
AFTER = utc("2027-02-14T00:00:00Z")


def status(allowed: bool = True, result: str | None = "None", self_service=SELF_SERVICE, scheduled=SCHEDULED):
    return RedeployStatus(customer_initiated_allowed=allowed, self_service=self_service, scheduled=scheduled,
                          last_result=result)


def vm(name: str = "vm-web-01", redeploy=None, **fields) -> Vm:
    return Vm(id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
              name=name, resource_group="rg", subscription_id="s", redeploy=redeploy, **fields)


@pytest.mark.parametrize(
    "allowed, result, now, expected",
    [
        # allowed, nothing tried yet
        (True, "None", BEFORE, S.SCHEDULED),
        (True, "None", INSIDE, S.START_NOW),
        (True, None, INSIDE, S.START_NOW),
        (True, "None", SELF_SERVICE_END, S.SCHEDULED),  # the end is exclusive
        (True, "None", BETWEEN, S.SCHEDULED),
        (True, "None", DURING_SCHEDULED, S.SCHEDULED),
        (True, "None", AFTER, S.NONE),
        # not allowed: Azure will do it
        (False, "None", BEFORE, S.SCHEDULED),
        (False, "None", INSIDE, S.SCHEDULED),
        (False, "None", BETWEEN, S.SCHEDULED),
        (False, "None", AFTER, S.NONE),
        # an aborted attempt
        (True, "MaintenanceAborted", INSIDE, S.RETRY_NOW),
        (True, "maintenanceaborted", INSIDE, S.RETRY_NOW),
        (False, "MaintenanceAborted", INSIDE, S.SCHEDULED),
        (True, "MaintenanceAborted", BETWEEN, S.SCHEDULED),
        (True, "MaintenanceAborted", AFTER, S.NONE),
        # results that hold whatever the clock says
        (True, "RetryLater", BEFORE, S.RETRY_LATER),
        (True, "RetryLater", INSIDE, S.RETRY_LATER),
        (False, "RetryLater", AFTER, S.RETRY_LATER),
        (True, "MaintenanceCompleted", INSIDE, S.ALREADY_UPDATED),
        (False, "MaintenanceCompleted", INSIDE, S.ALREADY_UPDATED),
        (False, "MAINTENANCECOMPLETED", AFTER, S.ALREADY_UPDATED),
    ],
)
def test_state_of(allowed, result, now, expected):
    assert state_of(status(allowed, result), now) is expected


def test_no_status_means_not_in_a_wave():
    assert state_of(None, INSIDE) is S.NONE


def test_unknown_windows():
    assert state_of(status(self_service=Window(), scheduled=Window()), INSIDE) is S.START_NOW
    assert state_of(status(allowed=False, self_service=Window(), scheduled=Window()), AFTER) is S.SCHEDULED
    open_ended = Window(start=SELF_SERVICE.start)
    assert state_of(status(self_service=open_ended), AFTER) is S.START_NOW


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({}, (Risk.SINGLE_INSTANCE,)),
        ({"zones": ("1",)}, ()),
        ({"availability_set": "as-web"}, ()),
        ({"zones": ("1",), "public_ip_allocation": "Dynamic"}, (Risk.DYNAMIC_PUBLIC_IP,)),
        ({"zones": ("1",), "public_ip_allocation": "dynamic"}, (Risk.DYNAMIC_PUBLIC_IP,)),
        ({"zones": ("1",), "public_ip_allocation": "Static"}, ()),
        ({"zones": ("1",), "power_state": "deallocated"}, (Risk.DEALLOCATED,)),
        ({"zones": ("1",), "power_state": "PowerState/deallocated"}, (Risk.DEALLOCATED,)),
        ({"zones": ("1",), "power_state": "stopped"}, ()),
        (
            {"public_ip_allocation": "Dynamic", "power_state": "deallocated"},
            (Risk.SINGLE_INSTANCE, Risk.DYNAMIC_PUBLIC_IP, Risk.DEALLOCATED),
        ),
    ],
)
def test_risks_of(fields, expected):
    assert risks_of(vm(**fields)) == expected


def test_assess_combines_state_and_risks():
    affected = assess(vm(redeploy=status(), public_ip_allocation="Dynamic"), INSIDE)
    assert affected.state is S.START_NOW
    assert affected.risks == (Risk.SINGLE_INSTANCE, Risk.DYNAMIC_PUBLIC_IP)
    assert affected.self_service_deadline == SELF_SERVICE.end


def test_deadline_only_while_self_service_is_possible():
    assert assess(vm(redeploy=status(result="MaintenanceAborted")), INSIDE).self_service_deadline == SELF_SERVICE.end
    assert assess(vm(redeploy=status(allowed=False)), INSIDE).self_service_deadline is None
    assert assess(vm(), INSIDE).self_service_deadline is None


def test_by_urgency_orders_by_state_then_nearest_deadline_then_name():
    def slot(day: int) -> Window:
        return Window(utc(f"2027-02-{day}T15:00:00Z"), utc(f"2027-02-{day + 1}T15:00:00Z"))

    short = Window(SELF_SERVICE.start, utc("2027-01-14T00:00:00Z"))
    vms = [
        vm("done", status(result="MaintenanceCompleted")),
        vm("blank"),
        vm("later", status(result="RetryLater")),
        vm("sched-late", status(allowed=False, scheduled=slot(19))),
        vm("sched-early", status(allowed=False, scheduled=slot(12))),
        vm("retry", status(result="MaintenanceAborted")),
        vm("start-b", status()),
        vm("start-a", status()),
        vm("start-soon", status(self_service=short)),
    ]
    ordered = by_urgency([assess(v, INSIDE) for v in vms])
    assert [a.vm.name for a in ordered] == [
        "start-soon", "start-a", "start-b", "retry", "sched-early", "sched-late", "later", "blank", "done",
    ]
    assert count_by_state(ordered) == {
        S.START_NOW: 3, S.RETRY_NOW: 1, S.SCHEDULED: 2, S.RETRY_LATER: 1, S.NONE: 1, S.ALREADY_UPDATED: 1,
    }


def test_scheduled_without_a_window_sorts_after_those_with_one():
    ordered = by_urgency([
        assess(vm("a-unknown", status(allowed=False, scheduled=Window())), INSIDE),
        assess(vm("b-known", status(allowed=False)), INSIDE),
    ])
    assert [a.vm.name for a in ordered] == ["b-known", "a-unknown"]
