"""Quiet hours and silences, through the pipeline and the reminder pass: what a receiver's quiet hours hold back
goes out when they end, one message per event with its latest state; urgent news goes through; a silenced
delivery is recorded as silenced, and when the silence ends while the event is open the receiver hears its state
once. On SQLite and on Table Storage (Azurite)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay.config import parse_config
from relay.model import EventKind, Matcher, Silence, Window
from relay.pipeline import process_event
from relay.remind.send import remind
from tests.factories import maintenance_event
from tests.followup import inventory, listed, relay_on, sent

pytest_plugins = ["tests.azurite"]

TUE_2300 = datetime(2027, 1, 5, 14, 0, tzinfo=UTC)  # Tuesday 23:00 JST: in the night team's quiet hours
WED_0100 = TUE_2300 + timedelta(hours=2)
WED_0745 = TUE_2300 + timedelta(hours=8, minutes=45)
WED_0800 = TUE_2300 + timedelta(hours=9)  # its quiet hours end
DEADLINE = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
REBOOT = (datetime(2027, 1, 23, 15, 0, tzinfo=UTC), datetime(2027, 1, 24, 3, 0, tzinfo=UTC))
VMS = [
    {"name": "web-1", "team": "night", "group": "rg-web"},
    {"name": "web-2", "team": "night", "group": "rg-web"},
    {"name": "dev-1", "team": "day", "group": "rg-dev"},
    {"name": "prod-1", "team": "day", "group": "rg-prod"},
]
NAMES = [vm["name"] for vm in VMS]
CONFIG = {
    "receivers": [
        {"name": "night", "channel": "outbox", "format": "slack", "language": "en",
         "quiet_hours": [{"days": "mon-fri", "from": "22:00", "to": "08:00"}, {"days": "sat-sun"}]},
        {"name": "day", "channel": "outbox", "format": "slack", "language": "en"},
    ],
    "route": {"receiver": "night", "routes": [
        {"receiver": team, "match": {"tag": {"owner": team}}} for team in ("night", "day")]},
}


@pytest.fixture
def world(open_ledger, tmp_path):
    config = parse_config(CONFIG)
    clock = {"now": TUE_2300}
    outbox = tmp_path / "out"
    vms = VMS

    def at(now):
        return inventory(vms, (TUE_2300 - timedelta(days=1), DEADLINE), REBOOT, now)

    def relay(with_config=config, folder=outbox):
        return relay_on(open_ledger(), with_config, folder, clock, at)

    return config, clock, relay, outbox


def planned(**fields):
    return maintenance_event(**{"window": Window(*REBOOT), "event_time": TUE_2300 - timedelta(minutes=5), **fields})


def rescheduled():
    return planned(stage="Rescheduled", communication_id="2", event_time=WED_0100 - timedelta(minutes=5),
                   window=Window(REBOOT[0] + timedelta(days=7), REBOOT[1] + timedelta(days=7)))


def test_quiet_hours_hold_then_release_one_message_with_the_latest_state(world):
    config, clock, relay, outbox = world
    r = relay()
    outcome = process_event(planned(), r)
    night = next(d for d in outcome.deliveries if d.receiver == "night")
    assert night.result.ok and night.held == "quiet_hours"
    assert sent(outbox, "night") == [] and len(sent(outbox, "day")) == 1  # the day team heard at once
    clock["now"] = WED_0100
    assert process_event(rescheduled(), r).ok
    assert process_event(rescheduled(), r).status == "duplicate"  # a redelivery is not held twice
    (hold,) = r.ledger.holds()
    assert (hold.held, hold.event.stage, hold.since) == (2, "Rescheduled", TUE_2300)

    clock["now"] = WED_0745
    assert remind(r, config.reminders, config.receivers()) == []
    clock["now"] = WED_0800
    (released,) = remind(relay(), config.reminders, config.receivers())  # another process, the same ledger
    assert (released.receiver, released.status) == ("night", "sent")
    (message,) = sent(outbox, "night")
    assert "Rescheduled" in message["text"] or "rescheduled" in message["text"]
    assert listed(message, NAMES) == {"web-1", "web-2"}
    assert "quiet hours" in str(message)
    assert remind(relay(), config.reminders, config.receivers()) == [] and len(sent(outbox, "night")) == 1
    assert r.ledger.holds() == []


def test_urgent_news_goes_through_quiet_hours_and_what_was_held_of_it_is_not_sent_again(world):
    config, clock, relay, outbox = world
    r = relay()
    assert process_event(planned(), r).deliveries
    clock["now"] = WED_0100
    emergency = planned(level="Warning", communication_id="3", event_time=WED_0100)  # emergency maintenance
    night = next(d for d in process_event(emergency, r).deliveries if d.receiver == "night")
    assert night.held is None and len(sent(outbox, "night")) == 1
    assert r.ledger.holds() == []  # the night team has the latest now
    clock["now"] = WED_0800
    assert remind(r, config.reminders, config.receivers()) == []


@pytest.mark.parametrize("change, urgent", [
    ({"level": "Warning"}, True),  # emergency maintenance
    ({"kind": EventKind.INCIDENT, "level": "Error", "stage": "Active"}, True),
    ({"kind": EventKind.INCIDENT, "level": "Informational", "stage": "Active"}, False),
    ({}, False),  # planned, its deadline two weeks away
])
def test_what_counts_as_urgent(world, change, urgent):
    config, clock, relay, outbox = world
    night = next(d for d in process_event(planned(**change), relay()).deliveries if d.receiver == "night")
    assert (night.held is None) is urgent


def test_a_deadline_within_a_day_is_urgent_and_the_list_is_configurable(world, tmp_path):
    config, clock, relay, outbox = world
    clock["now"] = DEADLINE - timedelta(hours=20)  # Tuesday 22:00 JST, under a day before the deadline
    night = next(d for d in process_event(planned(), relay()).deliveries if d.receiver == "night")
    assert night.held is None
    strict = relay(parse_config({**CONFIG, "urgent": {"reasons": []}}), tmp_path / "strict")
    held = next(d for d in process_event(planned(communication_id="9"), strict).deliveries if d.receiver == "night")
    assert held.held == "quiet_hours"


def silence(*matchers: Matcher, starts=TUE_2300 - timedelta(hours=1), ends=WED_0800, id="s1") -> Silence:
    return Silence(id, matchers, starts, ends, "sato", "rg-dev is being rebuilt", starts)


def test_a_silence_holds_only_shares_it_matches_whole(world):
    config, clock, relay, outbox = world
    clock["now"] = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)  # Wednesday noon JST: nobody's quiet hours
    r = relay()
    r.ledger.add_silence(silence(Matcher("resource_group", "RG-DEV"), starts=clock["now"] - timedelta(hours=1),
                                 ends=clock["now"] + timedelta(hours=4)))
    day = next(d for d in process_event(planned(), r).deliveries if d.receiver == "day")
    assert day.held is None  # prod-1 is not in rg-dev: the team still needs telling
    r.ledger.add_silence(silence(Matcher("tag", "day", tag="owner"), Matcher("tracking_id", "xy12-.*", regex=True),
                                 starts=clock["now"] - timedelta(hours=1), ends=clock["now"] + timedelta(hours=4),
                                 id="s2"))
    day = next(d for d in process_event(rescheduled(), r).deliveries if d.receiver == "day")
    assert (day.held, day.result.ok) == ("silence", True)
    assert "s2" in day.result.detail and "sato" in day.result.detail
    assert len(sent(outbox, "day")) == 1


def test_matchers_on_receiver_region_and_kind(world):
    config, clock, relay, outbox = world
    clock["now"] = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)
    r = relay()
    r.ledger.add_silence(silence(Matcher("receiver", "day"), Matcher("region", "Japan East"),
                                 Matcher("kind", "maintenance"), starts=clock["now"], ends=clock["now"] + timedelta(1)))
    held = {d.receiver: d.held for d in process_event(planned(), r).deliveries}
    assert held == {"night": None, "day": "silence"}


def test_an_expired_silence_holds_nothing(world):
    config, clock, relay, outbox = world
    clock["now"] = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)
    r = relay()
    r.ledger.add_silence(silence(Matcher("receiver", "day"), starts=clock["now"] - timedelta(hours=2),
                                 ends=clock["now"] + timedelta(hours=2)))
    assert r.ledger.expire_silence("s1", clock["now"] - timedelta(minutes=1)) is not None
    held = {d.receiver: d.held for d in process_event(planned(), r).deliveries}
    assert held == {"night": None, "day": None}


NOON = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)  # Wednesday 12:00 JST


def day_team_silenced(world):
    """The Planned notice relayed at noon while the day team is silenced (s1, until 14:00 JST); the relay."""
    config, clock, relay, outbox = world
    clock["now"] = NOON
    r = relay()
    r.ledger.add_silence(silence(Matcher("receiver", "day"), starts=NOON - timedelta(hours=1),
                                 ends=NOON + timedelta(hours=2)))
    assert process_event(planned(), r).ok
    return r


def test_when_a_silence_ends_while_the_event_is_open_the_receiver_hears_its_state_once(world):
    config, clock, relay, outbox = world
    r = day_team_silenced(world)
    clock["now"] = NOON + timedelta(hours=1)
    assert remind(r, config.reminders, config.receivers()) == []  # still silenced
    r.ledger.expire_silence("s1", clock["now"])
    (released,) = remind(r, config.reminders, config.receivers())
    assert (released.receiver, released.status) == ("day", "sent")
    (message,) = sent(outbox, "day")
    assert listed(message, NAMES) == {"dev-1", "prod-1"} and "silence" in str(message).lower()
    assert remind(r, config.reminders, config.receivers()) == []


def test_a_silence_that_ends_after_the_event_did_sends_nothing(world):
    config, clock, relay, outbox = world
    r = day_team_silenced(world)
    assert process_event(planned(stage="Canceled", communication_id="5", event_time=NOON), r).ok
    clock["now"] = NOON + timedelta(hours=3)
    (over,) = remind(r, config.reminders, config.receivers())
    assert (over.receiver, over.status) == ("day", "nothing")
    assert sent(outbox, "day") == [] and r.ledger.holds() == []


def test_a_reminder_waits_for_the_end_of_quiet_hours_unless_urgent(world):
    config, clock, relay, outbox = world
    clock["now"] = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)  # the notice goes out at noon
    r = relay()
    assert process_event(planned(event_time=clock["now"]), r).ok
    clock["now"] = DEADLINE - timedelta(days=3)  # Sunday 18:00 JST: the 3 d reminder, the weekend is quiet
    statuses = {f.receiver: f.status for f in remind(r, config.reminders, config.receivers())}
    assert statuses == {"night": "held", "day": "sent"}
    clock["now"] = datetime(2027, 1, 17, 23, 0, tzinfo=UTC)  # Monday 08:00 JST
    statuses = {f.receiver: f.status for f in remind(r, config.reminders, config.receivers())}
    assert statuses == {"night": "sent"}
    clock["now"] = DEADLINE - timedelta(hours=20)  # Tuesday 22:00 JST: quiet, but the deadline is under a day
    statuses = {f.receiver: f.status for f in remind(r, config.reminders, config.receivers())}
    assert statuses == {"night": "sent", "day": "sent"}
