"""Per VM, what moved since the receiver's last notice (relay/render/changes.py), how the note words it in both
languages (templates/common/text.j2, change_note), and that the note stays within every channel's budget."""
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from relay.enrich.snapshot import notice_snapshot
from relay.enrich.state import assess, by_urgency
from relay.model import (
    Enriched,
    Event,
    EventKind,
    MaintenanceState,
    Notification,
    PriorNotice,
    Receiver,
    RedeployStatus,
    Vm,
    Window,
)
from relay.render import render
from relay.render.changes import (
    DEADLINE_AFTER_SCHEDULED,
    SCHEDULED_AFTER_EVENT,
    SCHEDULED_BEFORE_EVENT,
    changes_since,
    contradictions,
)
from relay.render.markup import macros, plain
from relay.render.slack import SLACK_MAX_BLOCKS, SLACK_MAX_SECTION, SLACK_MAX_TOTAL
from relay.render.teams import TEAMS_MAX_BYTES
from relay.render.view import build_view
from relay.store.snapshots import decode, encode
from tests.render_fixtures import slack_payload

SUB = "11111111-2222-3333-4444-555555555555"
PLANNED_AT = datetime(2027, 1, 12, tzinfo=UTC)
RESCHEDULED_AT = datetime(2027, 1, 20, 8, 45, tzinfo=UTC)  # 17:45 JST
EVENT_WINDOW = Window(datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 2, 27, 15, tzinfo=UTC))


def day(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=UTC)


DEADLINE, REBOOT = day(2, 10), day(2, 15, 15)  # as the Planned notice has them: 2/10(水) 9:00, 2/16(火) 0:00 JST


def vm(name: str, deadline: datetime | None = DEADLINE, reboot: datetime | None = REBOOT,
       startable: bool = True, result: str = "None") -> Vm:
    """A running VM whose self-service window ends at `deadline` and whose scheduled window starts at `reboot`
    and lasts a day (None: Azure gives no such window)."""
    return Vm(
        id=f"/subscriptions/{SUB}/resourceGroups/RG-DB/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name, resource_group="rg-db", subscription_id=SUB, zones=("1",),
        redeploy=RedeployStatus(startable, Window(day(1, 6), deadline),
                                Window(reboot, reboot + timedelta(days=1)) if reboot else Window(), result),
    )


def notification(vms: list[Vm], now: datetime, stage: str = "Planned", told=None,
                 window: Window = EVENT_WINDOW) -> Notification:
    event = Event(kind=EventKind.MAINTENANCE, schema="common", title="Planned maintenance: Virtual Machines",
                  communication="", tracking_id="XY12-3ZQ", communication_id=stage, stage=stage, window=window,
                  regions=("Japan East",), subscription_ids=(SUB,), event_time=now)
    prior = PriorNotice("Planned", EVENT_WINDOW, PLANNED_AT) if told else None
    return Notification(Enriched(event, now, by_urgency([assess(v, now) for v in vms])), prior, told=told)


def update(before: list[Vm], after: list[Vm], window: Window = EVENT_WINDOW) -> Notification:
    """The Rescheduled notification of `after`, told `before` by the Planned one."""
    told = notice_snapshot(notification(before, PLANNED_AT))
    return notification(after, RESCHEDULED_AT, "Rescheduled", told, window)


def changes(before: list[Vm], after: list[Vm]):
    n = update(before, after)
    assert n.told is not None
    return changes_since(n.told, n.enriched.vms)


# -- the change computation


def test_a_vm_whose_deadline_reboot_window_and_state_moved_is_one_change():
    [change] = changes([vm("vm-db-04")], [vm("VM-DB-04", deadline=day(2, 24), reboot=day(3, 1, 15), startable=False)])
    assert change.name == "VM-DB-04" and not (change.joined or change.left)
    assert (change.old_deadline, change.new_deadline) == (day(2, 10), day(2, 24))
    assert change.old_scheduled == Window(day(2, 15, 15), day(2, 16, 15))
    assert change.new_scheduled == Window(day(3, 1, 15), day(3, 2, 15))
    assert (change.old_state, change.new_state) == ("start_now", "scheduled")
    assert change.deadline_moved and change.scheduled_moved and change.state_changed


def test_only_what_moved_is_said_and_unchanged_vms_are_left_out():
    found = changes([vm("vm-a"), vm("vm-b"), vm("vm-c")], [vm("vm-a"), vm("vm-b", reboot=day(2, 20, 15)), vm("vm-c")])
    assert [(c.name, c.deadline_moved, c.scheduled_moved, c.state_changed) for c in found] == [
        ("vm-b", False, True, False)]


def test_vms_that_joined_and_left_are_changes_of_their_own():
    found = changes([vm("vm-a"), vm("vm-gone")], [vm("vm-a"), vm("vm-new", startable=False)])
    assert [(c.name, c.joined, c.left) for c in found] == [("vm-new", True, False), ("vm-gone", False, True)]
    joined, left = found
    assert joined.new_state == "scheduled" and joined.old_state == ""
    assert left.old_deadline == day(2, 10) and left.new_state == ""
    assert not any(c.deadline_moved or c.scheduled_moved or c.state_changed for c in found)


def test_the_most_urgent_come_first_and_those_that_left_last():
    before = [vm(f"vm-{n}") for n in "abcd"]
    after = [vm("vm-a", reboot=day(2, 20, 15), startable=False), vm("vm-b", deadline=day(2, 3)),
             vm("vm-c", deadline=day(2, 1)), vm("vm-e")]
    assert [c.name for c in changes(before, after)] == ["vm-c", "vm-b", "vm-e", "vm-a", "vm-d"]


def test_ids_are_compared_as_azure_means_them():
    before = [vm("vm-a")]
    after = [replace(vm("vm-a"), id=before[0].id.lower().replace("virtualmachines", "VirtualMachines") + "/")]
    assert changes(before, after) == ()


# -- contradictions


@pytest.mark.parametrize("vm_, window, kind", [
    (vm("vm-a", deadline=day(1, 1), reboot=day(1, 3)), Window(day(1, 6), day(2, 27)), SCHEDULED_BEFORE_EVENT),
    (vm("vm-a", reboot=day(3, 5)), Window(day(1, 6), day(2, 27)), SCHEDULED_AFTER_EVENT),
    (vm("vm-a", deadline=day(2, 20), reboot=day(2, 19, 15)), Window(day(1, 6), day(2, 27)), DEADLINE_AFTER_SCHEDULED),
])
def test_windows_that_cannot_all_be_true_are_found(vm_, window, kind):
    now = day(1, 2) if kind == SCHEDULED_BEFORE_EVENT else RESCHEDULED_AT
    [found] = contradictions(notification([vm_], now).enriched.vms, window)
    assert (found.name, found.kind, found.event_window) == ("vm-a", kind, window)


def test_windows_that_agree_or_vms_done_with_are_no_contradiction():
    agreeing = [vm("vm-a"), vm("vm-b", deadline=None, reboot=None), vm("vm-c", deadline=day(2, 15, 15))]
    assert contradictions(notification(agreeing, RESCHEDULED_AT).enriched.vms, EVENT_WINDOW) == ()
    done = [vm("vm-d", reboot=day(3, 5), result="MaintenanceCompleted")]
    assert contradictions(notification(done, RESCHEDULED_AT).enriched.vms, EVENT_WINDOW) == ()
    assert contradictions(notification([vm("vm-e", reboot=day(3, 5))], RESCHEDULED_AT).enriched.vms, Window()) == ()


# -- the snapshot as the ledgers keep it


def test_a_snapshot_survives_its_encoding():
    fraction = day(2, 10) + timedelta(microseconds=250)
    told = notice_snapshot(notification([vm("vm-a", deadline=fraction), vm("vm-b", deadline=None, reboot=None)],
                                        PLANNED_AT))
    assert decode(encode(told)) == told
    assert told.vms[0].key == told.vms[0].key.lower() and told.vms[1].scheduled == Window()


def test_a_state_of_a_newer_version_reads_as_none():
    import zlib

    told = notice_snapshot(notification([vm("vm-a")], PLANNED_AT))
    record = json.loads(zlib.decompress(encode(told)))
    record["vms"][0][2] = "some_future_state"
    assert decode(zlib.compress(json.dumps(record).encode())).vms[0].state is MaintenanceState.NONE


# -- the wording


def note(n: Notification, lang: str, dialect: str = "text") -> list[str]:
    return plain(macros(dialect, "common/text.j2").change_note(build_view(n), lang)).split("\n")


MOVED = update([vm("vm-db-04"), vm("vm-web-01"), vm("vm-gone")],
               [vm("vm-db-04", deadline=day(2, 24), reboot=day(3, 1, 15), startable=False), vm("vm-web-01"),
                vm("vm-new")], window=Window(day(1, 6), day(3, 5)))


def test_an_update_says_per_vm_what_moved_in_jst_then_the_event_window_in_japanese():
    lines = note(MOVED, "ja")
    assert lines[:4] == [
        "前回の通知からの VM ごとの変更（VM の状態: 1/20(水) 17:45 JST 時点）:",
        "追加: vm-new（今すぐ開始）",
        "vm-db-04: セルフサービス期限 2/10(水) 9:00 → 2/24(水) 9:00 JST、予定メンテナンス期間 2/16(火) 0:00〜2/17(水) 0:00"
        " → 3/2(火) 0:00〜3/3(水) 0:00 JST、状態 今すぐ開始 → スケジュール済み",
        "対象外になった VM: vm-gone",
    ]
    assert lines[4].startswith("日程が変更されました: ") and len(lines) == 5


def test_an_update_says_per_vm_what_moved_in_jst_then_the_event_window_in_english():
    lines = note(MOVED, "en")
    assert lines[:4] == [
        "Changes per VM since the last notice (VM status as of Wed 20 Jan 17:45 JST):",
        "Added: vm-new (Start now)",
        "vm-db-04: self-service deadline Wed 10 Feb 09:00 → Wed 24 Feb 09:00 JST; Azure's scheduled window"
        " Tue 16 Feb 00:00 – Wed 17 Feb 00:00 → Tue 2 Mar 00:00 – Wed 3 Mar 00:00 JST; state Start now → Scheduled",
        "No longer in this maintenance: vm-gone",
    ]
    assert lines[4].startswith("The window has moved: ") and len(lines) == 5


def test_a_time_that_becomes_unknown_keeps_the_zone_of_the_one_before():
    n = update([vm("vm-a")], [vm("vm-a", deadline=None, reboot=None)])
    assert note(n, "ja")[1] == ("vm-a: セルフサービス期限 2/10(水) 9:00 JST → 未定、"
                                "予定メンテナンス期間 2/16(火) 0:00〜2/17(水) 0:00 JST → 未定")
    assert note(n, "en")[1] == ("vm-a: self-service deadline Wed 10 Feb 09:00 JST → unknown; "
                                "Azure's scheduled window Tue 16 Feb 00:00 – Wed 17 Feb 00:00 JST → unknown")


def test_no_vm_moved_is_said_too_with_when_the_vms_were_read():
    n = update([vm("vm-a")], [vm("vm-a")])
    assert note(n, "ja")[0] == ("前回の通知から、VM ごとのセルフサービス期限・予定メンテナンス期間・状態に変更はありません"
                                "（VM の状態: 1/20(水) 17:45 JST 時点）。")
    assert note(n, "en")[0].endswith("since the last notice (VM status as of Wed 20 Jan 17:45 JST).")


def test_a_first_notice_or_one_whose_last_is_unknown_says_nothing_per_vm():
    assert note(notification([vm("vm-a")], PLANNED_AT), "ja") == [""]
    unknown = replace(update([vm("vm-a")], [vm("vm-b")]), told=None)
    assert not any("vm-" in line for line in note(unknown, "en"))


def test_ten_lines_then_how_many_more():
    before = [vm(f"vm-{i:02d}") for i in range(25)]
    after = [vm(f"vm-{i:02d}", reboot=day(2, 20, 15)) for i in range(25)]
    ja, en = note(update(before, after), "ja"), note(update(before, after), "en")
    assert len(ja) == 1 + 10 + 1 + 1 and ja[11] == "ほか 15 台" and en[11] == "and 15 more"
    assert ja[1].startswith("vm-00: ") and ja[10].startswith("vm-09: ")


def test_a_contradiction_is_said_as_one_not_as_two_facts():
    n = update([vm("vm-a")], [vm("vm-a", deadline=day(2, 20), reboot=day(2, 19, 15))])
    ja, en = note(n, "ja"), note(n, "en")
    assert ("Azure の情報が食い違っています: vm-a のセルフサービス期限（2/20(土) 9:00 JST）が、"
            "予定メンテナンス期間の開始（2/20(土) 0:00 JST）より後になっています。") in ja
    assert ("Azure's information disagrees: the self-service deadline of vm-a (Sat 20 Feb 09:00 JST) is after"
            " Azure's scheduled window for it starts (Sat 20 Feb 00:00 JST).") in en
    first = notification([vm("vm-b", reboot=day(3, 5))], PLANNED_AT)  # on a first notice as well
    assert note(first, "ja")[0].startswith("Azure の情報が食い違っています: vm-b の予定メンテナンス期間（3/5(金) 9:00〜3/6(土) 9:00 JST）が")


def test_payload_in_a_change_line_is_escaped_for_each_channel():
    n = update([vm("vm-a")], [vm("<!channel>*x*", startable=False)])
    assert "追加: &lt;!channel&gt;＊x＊（スケジュール済み）" in note(n, "ja", "slack")
    assert "対象外になった VM: vm-a" in note(n, "ja", "slack")
    assert "追加: &lt;!channel&gt;*x*（スケジュール済み）" in note(n, "ja", "html")


# -- every channel's budget


def fleet(count: int, **windows) -> list[Vm]:
    """VMs with names as long as Azure allows (64 characters)."""
    return [vm(f"vm-{i:05d}-" + "x" * 55, **windows) for i in range(count)]


@pytest.fixture(scope="module")
def everything_moved() -> Notification:
    """Ten thousand VMs, every one moved and contradicting the event, the VM list incomplete in twelve ways."""
    n = update(fleet(10_000), fleet(10_000, deadline=day(2, 24), reboot=day(3, 9, 15)))
    return replace(n, enriched=replace(n.enriched, gaps=tuple(f"denied {i:08d}-2222-3333-4444-555555555555"
                                                              for i in range(12))))


@pytest.mark.parametrize("language", ["both", "ja", "en"])
def test_the_note_stays_within_slack_and_teams_budgets(everything_moved, language):
    slack = slack_payload(render(everything_moved, Receiver("s", "slack", language=language)).body)
    sections = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert len(slack["blocks"]) <= SLACK_MAX_BLOCKS and max(map(len, sections)) <= SLACK_MAX_SECTION
    assert len(json.dumps(slack["blocks"], ensure_ascii=False)) <= SLACK_MAX_TOTAL
    said = "\n".join(sections)  # the changes are still said, if only counted
    assert ("前回の通知から" in said) == (language != "en") and ("since the last notice" in said) == (language != "ja")
    teams = render(everything_moved, Receiver("t", "teams", language=language)).body
    assert len(teams) <= TEAMS_MAX_BYTES and "vm-00000-" in teams.decode()
    assert render(everything_moved, Receiver("e", "email", language=language)).body
