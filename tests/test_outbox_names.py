"""The outbox never lets one message overwrite another: a file a communication, a folder a receiver, names that
any file system takes, and no temporary file left behind by a write that failed."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from relay.channels.outbox import OutboxChannel, folder_name
from relay.config import default_config
from relay.enrich import NoInventory
from relay.model import Event, EventKind, Message, Receiver, ResourceHealthChange
from relay.notices.parked import parked_notice
from relay.pipeline import Relay, file_stem, process_event
from relay.routing import ReceiverFilter, Routes
from relay.store.sqlite import SqliteLedger

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
