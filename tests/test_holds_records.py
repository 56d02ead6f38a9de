"""Silences and held messages as the ledgers keep them (relay/store/holds.py)."""
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from relay.model import (
    Event,
    EventKind,
    Hold,
    Matcher,
    MonitorAlert,
    PriorNotice,
    ResourceHealthChange,
    ScheduledEvent,
    Silence,
    Window,
)
from relay.store import event_from_record, event_record
from relay.store.holds import (
    RECORD_LIMIT,
    RecordTooLarge,
    hold_from_record,
    hold_record,
    merge,
    silence_from_record,
    silence_record,
)

T0 = datetime(2027, 1, 5, 2, 10, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
RESOURCE = ResourceHealthChange("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1",
                                "Unavailable", "Available", "PlatformInitiated", "Downtime", "計画メンテナンスで再起動")


def health(communication: str = "vm-1 は再起動されます。\nvm-1 will restart.", at: datetime | None = T0) -> Event:
    return Event(kind=EventKind.RESOURCE_HEALTH, schema="common", title="vm-1: Unavailable",
                 communication=communication, event_data_id="e-1", stage="Active", level="Warning", status="Active",
                 subscription_ids=("11111111-2222-3333-4444-555555555555",), event_time=at, resource=RESOURCE,
                 window=Window(T0, None))


def hold(event: Event | None = None, **changes) -> Hold:
    event = event or health()
    prior = PriorNotice("Planned", Window(T0, T0 + timedelta(hours=4)), T0 - timedelta(days=1), reschedules=2)
    return replace(Hold(event.thread_key, "oncall", "silence", T0, event, prior, held=3, silence_id="1a2b3c4d",
                        until=T0 + timedelta(days=1)), **changes)


def size(record: str) -> int:
    return len(record.encode("utf-16-le")) // 2


def test_a_silence_comes_back_as_it_was_its_times_in_utc():
    silence = Silence("1a2b3c4d", (Matcher("resource_group", "rg-web"), Matcher("tag", "^prod$", regex=True, tag="env"),
                                   Matcher("receiver", "オンコール")),
                      datetime(2027, 1, 5, 22, tzinfo=JST), datetime(2027, 1, 6, 6, tzinfo=JST), "佐藤",
                      "夜間パッチ / night patching", T0)
    back = silence_from_record(silence_record(silence))
    assert back == silence
    assert back.starts.utcoffset() == timedelta(0) and back.ends.tzinfo is not None


def test_a_hold_comes_back_whole_with_its_text_resource_and_prior():
    kept = hold()
    assert hold_from_record(hold_record(kept)) == kept
    plain = hold(prior=None, silence_id=None, until=None, reason="quiet_hours")
    assert hold_from_record(hold_record(plain)) == plain


def test_a_held_alert_keeps_what_the_ledger_keeps_of_an_alert():
    essentials = MonitorAlert(severity="Sev1", monitor_condition="Fired", service="Platform", signal="Metric",
                              rule="cpu-high", targets=("/subscriptions/s/resourceGroups/rg/providers/A.B/c/d",),
                              fired=T0)
    alert = Event(kind=EventKind.ALERT, schema="common", title="cpu-high", communication="CPU > 90%",
                  alert_id="/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/1", alert=essentials)
    back = hold_from_record(hold_record(hold(alert)))
    assert back.event == alert and back.event.dedup_key == alert.dedup_key


def test_a_held_scheduled_event_keeps_what_its_message_shows():
    scheduled = ScheduledEvent("C7061BAC-AFDC-4513-B24B-AA5F13A16123", "Reboot", "Scheduled", T0 + timedelta(minutes=15),
                               None, "Platform", ("vm-1", "vm-2"), "vm-1")
    event = Event(kind=EventKind.SCHEDULED, schema="agent", title="Reboot", communication="", scheduled=scheduled,
                  subscription_ids=("11111111-2222-3333-4444-555555555555",), event_time=T0)
    back = hold_from_record(hold_record(hold(event)))
    assert back.event == event and back.event.dedup_key == event.dedup_key


def test_the_held_text_is_cut_at_8000_characters():
    long = health("あ" * 20_000)
    assert hold_from_record(hold_record(hold(long))).event.communication == "あ" * 8000


def test_a_hold_fits_one_table_property_its_text_cut_further_when_needed():
    """Characters beyond the Basic Multilingual Plane count twice, as Table Storage counts them."""
    crowded = replace(health("\U0001f6a7\n" * 8000), regions=tuple("r" * 500 for _ in range(40)))
    record = hold_record(hold(crowded))
    assert RECORD_LIMIT - 4 <= size(record) <= RECORD_LIMIT  # no more cut than needed
    assert 0 < len(hold_from_record(record).event.communication) < 8000


def test_a_hold_too_large_even_without_its_text_is_refused():
    huge = replace(health(), regions=tuple("r" * 500 for _ in range(100)))
    with pytest.raises(RecordTooLarge, match="32000"):
        hold_record(hold(huge))


def test_a_silence_too_large_to_keep_is_refused():
    silence = Silence("1a2b3c4d", (Matcher("region", "japaneast"),), T0, T0 + timedelta(hours=1), "sato",
                      "x" * RECORD_LIMIT, T0)
    with pytest.raises(RecordTooLarge, match="silence"):
        silence_record(silence)


def test_the_event_record_without_text_is_as_before():
    event = health()
    record = event_record(event)
    assert "communication" not in json.loads(record) and "resource" not in json.loads(record)
    assert event_from_record(record) == replace(event, communication="", resource=None)
    with_text = json.loads(event_record(event, text=True))
    assert with_text == {**json.loads(record), "communication": event.communication,
                         "resource": {"resource_id": RESOURCE.resource_id, "current": "Unavailable",
                                      "previous": "Available", "cause": "PlatformInitiated", "type": "Downtime",
                                      "details": "計画メンテナンスで再起動"}, "scheduled": None}


def test_merging_keeps_the_latest_communication_by_event_time_none_the_oldest():
    undated, dated = hold(health(at=None), since=T0), hold(replace(health(), event_data_id="e-2"), since=T0)
    merged, key = merge(undated, undated.event.dedup_key, dated)
    assert (merged.event, merged.held, key) == (dated.event, 4, "event/e-2")
    merged, key = merge(dated, "event/e-2", undated)
    assert (merged.event, merged.prior, key) == (dated.event, dated.prior, "event/e-2")


def test_merging_compares_with_the_key_the_held_event_came_with():
    """An event read back from its record may give another key: the one it came with counts."""
    kept = hold()
    again, _ = merge(kept, kept.event.dedup_key, hold(since=T0 + timedelta(hours=1)))
    assert again.held == kept.held and again.since == T0
    other, _ = merge(kept, "as-it-came", hold())
    assert other.held == kept.held + 1
