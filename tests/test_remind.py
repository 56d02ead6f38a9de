"""One maintenance followed through its life by the reminder pass, on a clock that moves 15 minutes a pass:
the Planned notice, reminders 3 d, 1 d and 4 h before the self-service deadline and 24 h and 1 h before Azure's
reboot window, VMs completing one by one, the "all done" note. Each team gets only its own VMs; nothing is sent
twice, across a restart either; a team whose VMs are all done hears nothing."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from azure.functions.timer import TimerRequest

from relay.cli import main
from relay.config import parse_config
from relay.config.followup import ReminderSettings
from relay.model import MaintenanceState, Reminder, Window
from relay.pipeline import process_event
from relay.remind.due import Due, due_reminders
from relay.remind.send import remind
from relay.store.sqlite import SqliteLedger
from tests.factories import maintenance_event, make_vm
from tests.followup import Moving, inventory, listed, relay_on, sent
from tests.functions import FunctionApp

pytest_plugins = ["tests.azurite"]

T0 = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)  # Planned arrives: Monday 10:00 JST
DEADLINE = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)  # the self-service window ends: Friday 18:00 JST
REBOOT = datetime(2027, 1, 17, 15, 0, tzinfo=UTC)  # Azure's window opens: Monday 00:00 JST
REBOOT_END = REBOOT + timedelta(hours=12)
PASS = timedelta(minutes=15)
VMS = [
    {"name": "a1", "team": "team-a", "group": "rg-a", "done": DEADLINE - timedelta(days=2)},
    {"name": "a2", "team": "team-a", "group": "rg-a", "done": DEADLINE - timedelta(hours=6)},
    {"name": "b1", "team": "team-b", "group": "rg-b"},
    {"name": "b2", "team": "team-b", "group": "rg-b", "startable": False, "zones": []},  # Scheduled from the start
    {"name": "c1", "team": "team-c", "group": "rg-c", "done": T0 - timedelta(days=1)},  # done before the notice
]
NAMES = [vm["name"] for vm in VMS]


def at(now: datetime):
    return inventory(VMS, (T0 - timedelta(hours=1), DEADLINE), (REBOOT, REBOOT_END), now)


CONFIG = {
    "receivers": [{"name": team, "channel": "outbox", "format": "slack", "language": "en"}
                  for team in ("team-a", "team-b", "team-c")],
    "route": {"receiver": "team-a", "routes": [
        {"receiver": team, "match": {"tag": {"owner": team}}} for team in ("team-a", "team-b", "team-c")]},
}


@pytest.fixture
def world(open_ledger, tmp_path):
    config = parse_config(CONFIG)
    clock = {"now": T0}

    def relay():  # a fresh process on the same ledger storage: what a restart is
        return relay_on(open_ledger(), config, tmp_path / "out", clock, at)

    return config, clock, relay, tmp_path / "out"


def test_one_event_followed_from_notice_to_all_done(world, open_ledger):
    config, clock, relay, outbox = world
    r = relay()
    event = maintenance_event(window=Window(REBOOT, REBOOT_END), event_time=T0)
    assert process_event(event, r).ok
    every = PASS if isinstance(r.ledger, SqliteLedger) else timedelta(hours=1)  # Azurite: hourly, as quick
    restarted = False
    while clock["now"] < REBOOT_END:
        clock["now"] += every
        if not restarted and clock["now"] >= DEADLINE - timedelta(days=2):
            r, restarted = relay(), True  # the process died between the 3 d and 1 d reminders; a new one carries on
        remind(r, config.reminders, config.receivers())

    a_deadline = sent(outbox, "team-a", "reminder-deadline")
    assert [listed(m, NAMES) for m in a_deadline] == [{"a1", "a2"}, {"a2"}]  # 3 d (both to do), 1 d (a1 done by then)
    assert sent(outbox, "team-a", "reminder-reboot") == []  # done before Azure's window
    (a_done,) = sent(outbox, "team-a", "reminder-all_done")
    assert listed(a_done, NAMES) == {"a1", "a2"}

    b_deadline = sent(outbox, "team-b", "reminder-deadline")
    assert [listed(m, NAMES) for m in b_deadline] == [{"b1"}, {"b1"}, {"b1"}]  # 3 d, 1 d, 4 h: b2 cannot be started
    b_reboot = sent(outbox, "team-b", "reminder-reboot")
    assert [listed(m, NAMES) for m in b_reboot] == [{"b1", "b2"}, {"b1", "b2"}]  # 24 h, 1 h
    assert sent(outbox, "team-b", "reminder-all_done") == []

    assert sorted(p.name for p in (outbox / "team-c").glob("*reminder*")) == []  # its VM was done all along


def test_a_pass_run_twice_at_the_same_moment_sends_once(world):
    config, clock, relay, outbox = world
    r = relay()
    event = maintenance_event(window=Window(REBOOT, REBOOT_END), event_time=T0)
    assert process_event(event, r).ok
    clock["now"] = DEADLINE - timedelta(days=1)
    first = remind(r, config.reminders, config.receivers())
    again = remind(relay(), config.reminders, config.receivers())
    assert sorted(f.receiver for f in first if f.status == "sent") == ["team-a", "team-b"]
    assert again == []
    assert len(sent(outbox, "team-a", "reminder")) == 1


def test_a_dry_run_sends_and_records_nothing(world):
    config, clock, relay, outbox = world
    r = relay()
    assert process_event(maintenance_event(window=Window(REBOOT, REBOOT_END),
                                           event_time=T0), r).ok
    clock["now"] = DEADLINE - timedelta(days=1)
    dry = remind(r, config.reminders, config.receivers(), dry_run=True)
    assert {f.status for f in dry} == {"dry run"} and sent(outbox, "team-a", "reminder") == []
    assert {f.status for f in remind(r, config.reminders, config.receivers())} == {"sent"}


def test_only_the_nearest_offset_passed_is_due_and_not_when_news_came_after_it():
    vm = make_vm("a1", MaintenanceState.START_NOW)
    deadline = vm.self_service_deadline
    now = deadline - timedelta(hours=23)  # the 3 d and 1 d points have passed
    (due,) = due_reminders(maintenance_event(), (vm,), lambda: None, now - timedelta(days=9), ReminderSettings(), now)
    assert (due.reminder.kind, due.reminder.due, due.reminder.before) == ("deadline", deadline, timedelta(days=1))
    assert due_reminders(maintenance_event(), (vm,), lambda: None, now - timedelta(minutes=5), ReminderSettings(), now) == []


def test_a_deadline_azure_moves_gets_its_reminders_again():
    first = Due(Reminder("deadline", DEADLINE, timedelta(days=1)), ())
    moved = Due(Reminder("deadline", DEADLINE + timedelta(days=7), timedelta(days=1)), ())
    assert first.key("XY12-3ZQ") != moved.key("XY12-3ZQ")
    assert first.key("XY12-3ZQ").endswith("/1d")


def test_the_pass_skips_events_azure_has_closed(world):
    config, clock, relay, outbox = world
    r = relay()
    window = Window(REBOOT, REBOOT_END)
    assert process_event(maintenance_event(window=window, event_time=T0), r).ok
    assert process_event(maintenance_event(window=window, event_time=T0 + timedelta(hours=1), stage="Canceled",
                                           communication_id="2"), r).ok
    clock["now"] = DEADLINE - timedelta(days=1)
    assert remind(r, config.reminders, config.receivers()) == []


def test_the_function_timer_runs_the_pass(tmp_path):
    (tmp_path / "relay.yaml").write_text(json.dumps({**CONFIG, "outbox": "out", "ledger": "ledger.sqlite"}))
    app = FunctionApp({"RELAY_CONFIG": str(tmp_path / "relay.yaml")})
    try:
        clock = {"now": T0}
        app.host.relay.clock = lambda: clock["now"]
        app.host.relay.vms = Moving(app.host.relay.clock, at)
        assert process_event(maintenance_event(window=Window(REBOOT, REBOOT_END), event_time=T0), app.host.relay).ok
        clock["now"] = DEADLINE - timedelta(days=1)
        app["remind"](TimerRequest())
        app["remind"](TimerRequest())  # a second invocation sends nothing more
    finally:
        app.close()
    assert [len(sent(tmp_path / "out", team, "reminder-deadline-1d")) for team in ("team-a", "team-b")] == [1, 1]


def test_relay_remind_on_a_laptop_dry_run_then_for_real(tmp_path, capsys):
    config = yaml.safe_load(Path("examples/relay.yaml").read_text(encoding="utf-8"))
    config.update(inventory=str(Path("examples/inventory.json").resolve()), ledger="ledger.sqlite", outbox="out")
    (tmp_path / "relay.yaml").write_text(yaml.safe_dump(config))
    run = ["--config", str(tmp_path / "relay.yaml")]
    assert main(["process", "examples/alerts/01-planned.json", *run, "--now", "2027-01-06T00:12:00Z"]) == 0
    capsys.readouterr()
    one_day_before = "2027-02-09T00:00:00Z"  # the examples' deadline is 10 Feb 00:00 UTC
    assert main(["remind", *run, "--now", one_day_before, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "web-team: reminder:deadline:1d XY12-3ZQ: dry run" in dry and not list((tmp_path / "out").glob("*/*remind*"))
    assert main(["remind", *run, "--now", one_day_before]) == 0
    assert "web-team: reminder:deadline:1d XY12-3ZQ: sent" in capsys.readouterr().out
    assert main(["remind", *run, "--now", one_day_before]) == 0
    assert capsys.readouterr().out == "nothing due\n"
