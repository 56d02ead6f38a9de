"""One maintenance followed through its life to a Teams channel by the bot, through the real pipeline, the reminder
pass and the loopback Bot Connector, on SQLite and on Table Storage (Azurite): Planned, Rescheduled, the deadline
reminder a day before, Complete. The channel has one thread for it; each notice and the reminder is one reply in it;
the thread's first card is updated at each step and ends as the Complete card. The relay restarts in the middle (a
new process on the same ledger, the notices delivered again, the reminder pass run twice) and sends nothing twice.
A notice held for the receiver's quiet hours is released into the thread as a reply, its first card updated."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay.config import parse_config
from relay.hold.release import release_held
from relay.model import Window
from relay.pipeline import process_event
from relay.remind.send import remind
from tests.factories import maintenance_event
from tests.followup import inventory, relay_on
from tests.sinks.botconnector import APP_ID, CHANNEL, TENANT
from tests.teams_card import texts
from tests.test_channel_teams_bot import Connector, card, envelope

pytest_plugins = ["tests.azurite"]

T0 = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)  # Planned arrives: Monday 10:00 JST
DEADLINE = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)  # the self-service window ends: Friday 18:00 JST
REBOOT = datetime(2027, 1, 17, 15, 0, tzinfo=UTC)  # Azure's window opens
REBOOT_END = REBOOT + timedelta(hours=12)
MOVED = Window(REBOOT + timedelta(days=1), REBOOT_END + timedelta(days=1))  # where Rescheduled moves the window
VMS = [{"name": "web-1", "team": "ops", "group": "rg-web", "done": MOVED.end - timedelta(hours=4)},
       {"name": "web-2", "team": "ops", "group": "rg-web", "done": MOVED.end - timedelta(hours=2)}]


def at(now: datetime):
    return inventory(VMS, (T0 - timedelta(hours=1), DEADLINE), (MOVED.start, MOVED.end), now)


@pytest.fixture
def bc(ca, monkeypatch):
    """The Connector, trusted, with the managed identity that is the bot: the relay's config names no secret."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    with Connector(tls=ca) as connector:
        for name, value in connector.identity_environ().items():
            monkeypatch.setenv(name, value)
        yield connector


def test_one_thread_per_event_its_first_card_kept_current_and_nothing_sent_twice(bc, open_ledger, tmp_path):
    config = parse_config({"receivers": [{
        "name": "ops", "channel": "teams", "via": "bot", "language": "both", "app_id": APP_ID, "tenant_id": TENANT,
        "team_channel": CHANNEL, "service_url": bc.service_url}]})
    clock = {"now": T0}

    def relay():  # a fresh process on the same ledger storage: what a restart is
        return relay_on(open_ledger(), config, tmp_path / "out", clock, at)

    planned = maintenance_event(window=Window(REBOOT, REBOOT_END), event_time=T0)
    rescheduled = maintenance_event(stage="Rescheduled", communication_id="11223355", window=MOVED,
                                    event_time=T0 + timedelta(days=2))
    complete = maintenance_event(stage="Complete", communication_id="11223366", window=MOVED,
                                 event_time=MOVED.end + timedelta(hours=1), status="Resolved")

    r = relay()
    assert process_event(planned, r).ok
    clock["now"] = T0 + timedelta(days=2)
    assert process_event(rescheduled, r).ok

    r = relay()  # the process restarts; Azure delivers both notices again
    for event in (planned, rescheduled):
        assert [d.result.ok for d in process_event(event, r).deliveries] in ([], [True])
    assert [o["op"] for o in bc.operations] == ["create", "reply", "update"]

    clock["now"] = DEADLINE - timedelta(days=1) + timedelta(minutes=15)
    sent = remind(r, config.reminders, config.receivers())
    assert [(s.receiver, s.status) for s in sent] == [("ops", "sent")], sent
    assert remind(relay(), config.reminders, config.receivers()) == []  # again, from another process: nothing

    clock["now"] = complete.event_time
    assert process_event(complete, relay()).ok

    (thread,) = bc.threads(CHANNEL)
    assert [o["op"] for o in bc.operations] == ["create"] + ["reply", "update"] * 3
    assert len(thread.replies) == 3 and thread.root.updates == 3
    # Each update made the first card the reply it went with: the event as it stood then.
    assert [card(version) for version in thread.root.versions[1:]] == [card(reply) for reply in thread.replies]
    assert len({str(card(reply)) for reply in thread.replies}) == 3
    headlines = [texts(envelope(card(version)))[0] for version in thread.root.versions]
    assert [line.partition("】")[0] for line in headlines] == [
        "【要対応 2 台", "【要対応 2 台・日程変更", "【要対応 2 台・リマインダー", "【完了"], headlines
    assert texts(envelope(card(thread.root)))[:2] == ["【完了】東日本 VM 再起動 XY12-3ZQ",
                                                     "[Complete] Japan East VM reboot XY12-3ZQ"]
    assert bc.token_requests == [] and bc.identity_requests  # the managed identity that is the bot


def test_a_notice_held_for_quiet_hours_is_released_into_the_thread(bc, open_ledger, tmp_path):
    config = parse_config({"receivers": [{
        "name": "ops", "channel": "teams", "via": "bot", "app_id": APP_ID, "tenant_id": TENANT, "team_channel": CHANNEL,
        "service_url": bc.service_url, "quiet_hours": [{"days": "mon-sun", "from": "22:00", "to": "08:00"}]}]})
    clock = {"now": T0}

    def relay():
        return relay_on(open_ledger(), config, tmp_path / "out", clock, at)

    assert process_event(maintenance_event(window=Window(REBOOT, REBOOT_END), event_time=T0), relay()).ok
    clock["now"] = T0 + timedelta(days=2, hours=13)  # Wednesday 23:00 JST
    rescheduled = maintenance_event(stage="Rescheduled", communication_id="11223355", window=MOVED,
                                    event_time=clock["now"])
    (held,) = process_event(rescheduled, relay()).deliveries
    assert held.held == "quiet_hours" and [o["op"] for o in bc.operations] == ["create"]

    clock["now"] = T0 + timedelta(days=2, hours=22, minutes=30)  # Thursday 08:30 JST
    released = release_held(relay(), config.receivers())
    assert [(f.receiver, f.status) for f in released] == [("ops", "sent")], released
    assert release_held(relay(), config.receivers()) == []
    (thread,) = bc.threads(CHANNEL)
    assert [o["op"] for o in bc.operations] == ["create", "reply", "update"]
    assert len(thread.replies) == 1 and card(thread.root) == card(thread.replies[0])
