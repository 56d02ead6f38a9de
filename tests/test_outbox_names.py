"""The outbox never lets one message overwrite another: a file a communication, a folder a receiver, names that
any file system takes, and no temporary file left behind by a write that failed. A receiver standing in for a Teams
bot (via: bot) writes a folder a thread: its first card as it ends, then its replies in order."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.channels import channel_for
from relay.channels.outbox import OutboxChannel, folder_name
from relay.channels.outbox_thread import FIRST, RECORD, Thread, ThreadOutboxChannel, read_thread, thread_folder
from relay.config import ConfigError, default_config, parse_config
from relay.enrich import NoInventory
from relay.model import Event, EventKind, Message, Receiver, ResourceHealthChange
from relay.notices.parked import parked_notice
from relay.pipeline import Relay, file_stem, process_event
from relay.render import render
from relay.render.teams import OUTBOX_BOT_TRANSPORT, is_bot
from relay.routing import ReceiverFilter, Routes
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.teams_card import card_of, elements

AT = datetime(2027, 1, 14, 2, 18, 53, tzinfo=UTC)
VM = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"


def health(name: str, event_data_id: str) -> Event:
    """A Resource Health alert of one VM: no trackingId, named by its kind, the second it came."""
    return Event(kind=EventKind.RESOURCE_HEALTH, schema="common", title=f"{name} is unavailable", communication="",
                 event_data_id=event_data_id, status="Active", event_time=AT,
                 resource=ResourceHealthChange(VM + name, current="Unavailable", previous="Available"))


def relay_to(outbox: Path, *names: str) -> Relay:
    receivers = tuple(ReceiverFilter(Receiver(name, "teams")) for name in names)
    channel = OutboxChannel(outbox)
    return Relay(ledger=SqliteLedger(":memory:"), vms=NoInventory(), routes=Routes.flat(receivers),
                 channel_for=lambda receiver: channel, clock=lambda: AT)


def files(outbox: Path) -> list[str]:
    return sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())


def test_two_alerts_of_the_same_second_and_kind_are_two_files(tmp_path):
    relay = relay_to(tmp_path, "ops")
    for event in (health("vm-a", "1111"), health("vm-b", "2222")):
        assert process_event(event, relay).ok
    written = files(tmp_path)
    assert len(written) == 2 and {json.loads((tmp_path / f).read_bytes())["type"] for f in written} == {"message"}


def test_three_relay_notices_are_three_files(tmp_path):
    relay = relay_to(tmp_path, "ops")
    for item in ("a1", "b2", "c3"):
        assert process_event(parked_notice(item, b"{}", 5, "not delivered", AT), relay).ok
    assert len(files(tmp_path)) == 3


def test_a_redelivered_communication_keeps_its_own_name():
    event = health("vm-a", "1111")
    assert file_stem(event, AT) == file_stem(replace(event, title="retold"), AT)
    assert file_stem(event, AT) != file_stem(health("vm-a", "2222"), AT)


def test_receivers_whose_names_only_differ_in_what_is_unsafe_get_folders_of_their_own(tmp_path):
    relay = relay_to(tmp_path, "ops", "ops.", "o-p-s")
    assert process_event(health("vm-a", "1111"), relay).ok
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 3 and "ops" in folders and folder_name("ops.").startswith("ops-")


def test_a_long_tracking_id_still_makes_a_file(tmp_path):
    event = Event(kind=EventKind.MAINTENANCE, schema="common", title="t", communication="", tracking_id="X" * 240,
                  communication_id="1", stage="Planned", event_time=AT)
    assert process_event(event, relay_to(tmp_path, "ops")).ok
    (written,) = files(tmp_path)
    assert len(Path(written).name) < 120


def test_a_write_that_fails_half_way_removes_its_temporary_file(tmp_path, monkeypatch):
    channel = OutboxChannel(tmp_path)
    message = Message(Receiver("ops", "teams"), "key", "thread", "application/json", b"{}", "s", file_stem="stem")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    result = channel.send(message)
    assert not result.ok and result.retryable and "No space left" in result.detail
    assert list((tmp_path / "ops").iterdir()) == []


def test_the_default_config_still_writes_one_folder_a_channel(tmp_path):
    names = sorted(folder_name(r.receiver.name) for r in default_config(tmp_path).routes)
    assert names == ["email", "slack", "teams"]


# --- an outbox receiver standing in for a Teams bot (channel outbox, format teams, via: bot) ---

BOT = Receiver("platform", "teams", transport=OUTBOX_BOT_TRANSPORT)


def post(channel: ThreadOutboxChannel, stem: str, thread: str = "XY12-3ZQ", says: str = ""):
    envelope = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                   "content": {"type": "AdaptiveCard", "says": says or stem}}]}
    return channel.send(Message(BOT, f"key {stem}", thread, "application/json", json.dumps(envelope).encode(), "s",
                                file_stem=stem))


def says(path: Path) -> str:
    return card_of(path.read_bytes())["says"]


def thread_files(folder: Path) -> dict[str, str]:
    return {p.name: says(p) for p in sorted(folder.iterdir()) if p.name != RECORD}


def test_a_bot_thread_is_a_folder_its_first_card_as_it_ends_then_its_replies_in_order(tmp_path):
    channel = ThreadOutboxChannel(tmp_path)
    for stem in ("t1-Planned", "t2-Rescheduled", "t3-Rescheduled-reminder-deadline-3d", "t4-Complete"):
        assert post(channel, stem).ok
    folder = tmp_path / "platform" / "XY12-3ZQ"
    assert thread_files(folder) == {"01-t2-Rescheduled.json": "t2-Rescheduled",
                                    "02-t3-Rescheduled-reminder-deadline-3d.json": "t3-Rescheduled-reminder-deadline-3d",
                                    "03-t4-Complete.json": "t4-Complete", FIRST: "t4-Complete"}  # as the bot updates it
    assert read_thread(folder) == Thread("XY12-3ZQ", "t1-Planned", ["01-t2-Rescheduled.json",
                                         "02-t3-Rescheduled-reminder-deadline-3d.json", "03-t4-Complete.json"])
    assert not list(folder.glob(".writing-*"))


def test_a_redelivered_message_rewrites_its_own_file_and_adds_none(tmp_path):
    channel = ThreadOutboxChannel(tmp_path)
    for stem in ("t1-Planned", "t2-Rescheduled", "t3-Complete"):
        assert post(channel, stem).ok
    folder = tmp_path / "platform" / "XY12-3ZQ"
    assert post(channel, "t1-Planned", says="Planned again").ok  # the start: the first card stays the latest's
    assert post(channel, "t2-Rescheduled", says="Rescheduled again").ok  # not the latest: its own file only
    assert thread_files(folder) == {"01-t2-Rescheduled.json": "Rescheduled again", "02-t3-Complete.json": "t3-Complete",
                                    FIRST: "t3-Complete"}
    assert post(channel, "t3-Complete", says="Complete again").ok  # the latest: the first card with it
    assert thread_files(folder)[FIRST] == "Complete again"
    assert read_thread(folder).start == "t1-Planned"


def test_a_start_redelivered_before_any_reply_is_still_the_first_card(tmp_path):
    channel = ThreadOutboxChannel(tmp_path)
    assert post(channel, "t1-Planned").ok and post(channel, "t1-Planned", says="again").ok
    assert thread_files(tmp_path / "platform" / "XY12-3ZQ") == {FIRST: "again"}


def test_each_event_is_a_thread_of_its_own_whatever_its_key(tmp_path):
    alert = "alert//subscriptions/1111/providers/microsoft.alertsmanagement/alerts/0a1b2c3d-0008"
    keys = ["XY12-3ZQ", alert, "a/b", "a_b", "a.b", "../etc", "X" * 300, ""]
    names = [thread_folder(key) for key in keys]
    assert len(set(names)) == len(keys)
    assert names[0] == "XY12-3ZQ" and names[1].startswith("0a1b2c3d-0008-")
    assert all(len(name) <= 80 and name.replace("-", "").replace("_", "").isalnum() for name in names)
    channel = ThreadOutboxChannel(tmp_path)
    for key in keys:
        assert post(channel, "t1-Active", thread=key).ok
    assert sorted(p.name for p in (tmp_path / "platform").iterdir()) == sorted(names)


def test_a_start_whose_card_could_not_be_written_is_made_whole_by_its_redelivery(tmp_path, monkeypatch):
    channel = ThreadOutboxChannel(tmp_path)
    written = os.replace

    def full_disk(src, dst):
        if Path(dst).name == FIRST:
            raise OSError(28, "No space left on device")
        written(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    result = post(channel, "t1-Planned")
    assert not result.ok and result.retryable and "No space left" in result.detail
    monkeypatch.setattr(os, "replace", written)
    assert post(channel, "t1-Planned").ok and post(channel, "t2-Rescheduled").ok
    folder = tmp_path / "platform" / "XY12-3ZQ"
    assert thread_files(folder) == {"01-t2-Rescheduled.json": "t2-Rescheduled", FIRST: "t2-Rescheduled"}
    assert not list(folder.glob(".writing-*"))


def test_an_email_is_no_card_for_a_bot_thread(tmp_path):
    message = Message(BOT, "key", "XY12-3ZQ", "message/rfc822", b"Subject: x\r\n\r\nx", "s", file_stem="t1")
    result = ThreadOutboxChannel(tmp_path).send(message)
    assert not result.ok and not result.retryable and "format teams" in result.detail


def test_an_outbox_receiver_with_via_bot_stands_in_for_the_bot_and_gets_its_cards(tmp_path):
    config = parse_config({"receivers": [{"name": "platform", "channel": "outbox", "format": "teams", "via": "bot"},
                                         {"name": "plain", "channel": "outbox", "format": "teams"}]})
    bot, plain = config.receivers()["platform"], config.receivers()["plain"]
    assert (bot.channel, bot.transport, plain.transport) == ("teams", OUTBOX_BOT_TRANSPORT, "outbox")
    assert isinstance(channel_for(bot, tmp_path, SqliteLedger(":memory:"), {}), ThreadOutboxChannel)
    assert isinstance(channel_for(plain, tmp_path, SqliteLedger(":memory:"), {}), OutboxChannel)
    assert is_bot(bot) and not is_bot(plain)
    buttons = [e.get("verb") for e in elements(card_of(render(f.planned(), bot).body)) if e["type"] == "Action.Execute"]
    assert buttons and set(buttons) == {"ack", "start"}  # I'm on it, and a start button a VM
    assert not [e for e in elements(card_of(render(f.planned(), plain).body)) if e["type"] == "Action.Execute"]


@pytest.mark.parametrize("changes, expected", [
    ({"format": "slack"}, "receivers[0].via: bot stands in for a Teams bot, so its format must be teams (got 'slack')"),
    ({"format": "email"}, "receivers[0].via: bot stands in for a Teams bot, so its format must be teams (got 'email')"),
    ({"via": "webhook"}, "receivers[0].via: an outbox receiver writes a file a message (leave via out), or with via:"
                         " bot stands in for a Teams bot: its threads, a folder an event (got 'webhook')"),
])
def test_via_on_an_outbox_receiver_is_bot_for_format_teams_only(changes, expected):
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{"name": "p", "channel": "outbox", "format": "teams", "via": "bot", **changes}]})
    assert expected in str(info.value)
