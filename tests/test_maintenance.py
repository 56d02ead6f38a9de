from datetime import datetime

import pytest

from relay.enrich.state import assess, by_urgency, count_by_state, others_deallocated, risks_of, state_of
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


TIMES = (BEFORE, INSIDE, SELF_SERVICE_END, BETWEEN, DURING_SCHEDULED, AFTER)
# The state at each of TIMES, per (isCustomerInitiatedMaintenanceAllowed, lastOperationResultCode). Inside the
# self-service window the flag says whether it can be started now: after an unsuccessful attempt (RetryLater,
# MaintenanceAborted) it tells Retry now from Retry later. Outside the window only Azure can do it, until the
# scheduled window is over. A completed maintenance holds whatever the clock says.
STATES = {
    (True, "None"): (S.SCHEDULED, S.START_NOW, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (False, "None"): (S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (True, "RetryLater"): (S.SCHEDULED, S.RETRY_NOW, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (False, "RetryLater"): (S.SCHEDULED, S.RETRY_LATER, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (True, "MaintenanceAborted"): (S.SCHEDULED, S.RETRY_NOW, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (False, "MaintenanceAborted"): (S.SCHEDULED, S.RETRY_LATER, S.SCHEDULED, S.SCHEDULED, S.SCHEDULED, S.NONE),
    (True, "MaintenanceCompleted"): (S.ALREADY_UPDATED,) * len(TIMES),
    (False, "MaintenanceCompleted"): (S.ALREADY_UPDATED,) * len(TIMES),
}


@pytest.mark.parametrize(
    "allowed, result, now, expected",
    [(allowed, result, now, expected)
     for (allowed, result), states in STATES.items() for now, expected in zip(TIMES, states, strict=True)],
)
def test_state_of_every_combination(allowed, result, now, expected):
    assert state_of(status(allowed, result), now) is expected


@pytest.mark.parametrize("written, same_as", [
    (None, "None"), ("", "None"), ("maintenanceaborted", "MaintenanceAborted"), ("RETRYLATER", "RetryLater"),
    ("MAINTENANCECOMPLETED", "MaintenanceCompleted"),
])
@pytest.mark.parametrize("allowed", [True, False])
def test_result_codes_in_any_letter_case(written, same_as, allowed):
    for now, expected in zip(TIMES, STATES[(allowed, same_as)], strict=True):
        assert state_of(status(allowed, written), now) is expected


def test_retry_now_keeps_the_deadline_retry_later_has_none():
    assert assess(vm(redeploy=status(result="RetryLater")), INSIDE).self_service_deadline == SELF_SERVICE.end
    assert assess(vm(redeploy=status(False, "RetryLater")), INSIDE).self_service_deadline is None


DEALLOCATED = ("deallocated", "stopped-deallocated", "PowerState/deallocated", "Deallocated")


@pytest.mark.parametrize("power", DEALLOCATED)
@pytest.mark.parametrize("redeploy", [None, *(status(allowed, result) for allowed, result in STATES)])
def test_a_deallocated_vm_is_unknown_whatever_its_status_says(power, redeploy):
    affected = assess(vm(redeploy=redeploy, power_state=power, zones=("1",)), INSIDE)
    assert affected.state is S.UNKNOWN
    assert affected.risks == (Risk.DEALLOCATED,)
    assert affected.self_service_deadline is None


@pytest.mark.parametrize("power", ["running", "stopped", "deallocating", "starting", "unknown"])
def test_only_deallocated_is_unknown(power):
    assert assess(vm(redeploy=status(), power_state=power), INSIDE).state is S.START_NOW


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
        ({"availability_set": "as-web", "others_in_set_deallocated": True}, (Risk.ISOLATED,)),
        (
            {"availability_set": "as-web", "others_in_set_deallocated": True, "public_ip_allocation": "Dynamic"},
            (Risk.ISOLATED, Risk.DYNAMIC_PUBLIC_IP),
        ),
        # a VM that is itself deallocated is not rebooted: it is no single instance of anything
        ({"availability_set": "as-web", "others_in_set_deallocated": True, "power_state": "deallocated"},
         (Risk.DEALLOCATED,)),
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
        vm("stopped", status(), power_state="deallocated"),
        vm("later", status(allowed=False, result="RetryLater")),
        vm("sched-late", status(allowed=False, scheduled=slot(19))),
        vm("sched-early", status(allowed=False, scheduled=slot(12))),
        vm("retry", status(result="MaintenanceAborted")),
        vm("start-b", status()),
        vm("start-a", status()),
        vm("start-soon", status(self_service=short)),
    ]
    ordered = by_urgency([assess(v, INSIDE) for v in vms])
    assert [a.vm.name for a in ordered] == [
        "start-soon", "start-a", "start-b", "retry", "sched-early", "sched-late", "later", "stopped", "blank", "done",
    ]
    assert count_by_state(ordered) == {
        S.START_NOW: 3, S.RETRY_NOW: 1, S.SCHEDULED: 2, S.RETRY_LATER: 1, S.UNKNOWN: 1, S.NONE: 1,
        S.ALREADY_UPDATED: 1,
    }
    assert list(count_by_state(ordered)) == [S.START_NOW, S.RETRY_NOW, S.SCHEDULED, S.RETRY_LATER, S.UNKNOWN, S.NONE,
                                             S.ALREADY_UPDATED]


def test_scheduled_without_a_window_sorts_after_those_with_one():
    ordered = by_urgency([
        assess(vm("a-unknown", status(allowed=False, scheduled=Window())), INSIDE),
        assess(vm("b-known", status(allowed=False)), INSIDE),
    ])
    assert [a.vm.name for a in ordered] == ["b-known", "a-unknown"]


@pytest.mark.parametrize("members, expected", [
    ({"b": "deallocated", "c": "stopped-deallocated"}, True),
    ({"b": "deallocated", "c": "running"}, False),
    ({"b": "stopped"}, False),  # stopped, not deallocated: it still holds its host
    ({}, False),  # alone in its set: no other VM to be stopped
    ({"a": "running", "b": "deallocated"}, True),  # its own entry does not count
])
def test_others_deallocated(members, expected):
    assert others_deallocated("/x/A", {f"/x/{k}": power for k, power in members.items()}) is expected
