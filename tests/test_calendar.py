"""Maintenance in the calendar: every file the relay writes, parsed by icalendar and by a second, independent parser
(ical), through Planned → Rescheduled → Canceled; the rules Outlook and Google import by; the feed's ETag."""
from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from relay.calendar.entries import DEADLINE_SLOT, REBOOT, VM_LIMIT, Maintenance, entries, uid
from relay.calendar.feed import CalendarFeed, NoCalendar, ReceiverNeeded, receiver_entries
from relay.calendar.file import calendar_file
from relay.config import parse_config
from relay.hosts.calendar import calendar_reply, matches
from relay.hosts.wiring import Paths, open_relay
from relay.model import MaintenanceState, Receiver, VmSnapshot, Window
from relay.pipeline import process

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALERTS = EXAMPLES / "alerts"
TOKYO = "Asia/Tokyo"


# -- reading a file: both parsers, and the import rules


def read_both(data: bytes) -> dict[str, dict]:
    """Each VEVENT by UID as icalendar reads it, checked against what ical reads: UID, SEQUENCE, STATUS, TZID,
    and both times as instants."""
    first = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    second = {e.uid: e for e in IcsCalendarStream.calendar_from_ics(data.decode("utf-8")).events}
    assert set(first) == set(second)
    events = {}
    for key, a in first.items():
        b = second[key]
        start, end = a.decoded("DTSTART"), a.decoded("DTEND")
        assert (start, end) == (b.dtstart, b.dtend)
        assert a["DTSTART"].params["TZID"] == a["DTEND"].params["TZID"] == TOKYO
        assert str(b.dtstart.tzinfo) == TOKYO and b.dtstart.utcoffset() == timedelta(hours=9)
        assert int(a["SEQUENCE"]) == b.sequence
        assert str(a["STATUS"]) == b.status.value
        assert str(a["SUMMARY"]) == b.summary and str(a["DESCRIPTION"]) == b.description
        events[key] = {"sequence": b.sequence, "status": b.status.value, "start": start, "end": end,
                       "summary": b.summary, "description": b.description}
    return events


def follows_import_rules(data: bytes) -> None:
    """What Outlook and Google import by (docs/configure.md#maintenance-in-the-calendar): CRLF, lines folded at
    75 octets without splitting a character, a VTIMEZONE for every TZID, the calendar's properties first."""
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")[:-1]
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a folded line never ends inside a character
    unfolded = icalendar.Calendar.from_ical(data)
    used = {str(p.params["TZID"]) for e in unfolded.walk("VEVENT") for p in (e["DTSTART"], e["DTEND"])}
    defined = {str(z["TZID"]) for z in unfolded.walk("VTIMEZONE")}
    assert used <= defined == {TOKYO}
    (zone,) = unfolded.walk("VTIMEZONE")
    assert [c.name for c in zone.subcomponents] == ["STANDARD"] and "COMMENT" not in zone
    first_component = next(i for i, line in enumerate(lines) if line.startswith(b"BEGIN:") and i)
    head = lines[1:first_component]
    assert b"METHOD:PUBLISH" in head and b"VERSION:2.0" in head and any(h.startswith(b"PRODID:") for h in head)
    assert not any(line.startswith((b"METHOD", b"X-WR-CALNAME", b"PRODID")) for line in lines[first_component:])


# -- entries, without a ledger

T = datetime(2027, 2, 10, 0, 0, tzinfo=UTC)
SELF_SERVICE = Window(T - timedelta(days=30), T)
SCHEDULED = Window(T + timedelta(days=2), T + timedelta(days=4))


def vm(name: str, state: MaintenanceState, self_service: Window = SELF_SERVICE,
       scheduled: Window = SCHEDULED) -> VmSnapshot:
    return VmSnapshot(key=name, name=name, state=state, self_service=self_service, scheduled=scheduled)


def maintenance(*vms: VmSnapshot, **fields) -> Maintenance:
    values = dict(thread_key="XY12-3ZQ", tracking_id="XY12-3ZQ", title="Planned maintenance, Japan East",
                  link="https://app.azure.com/h/XY12-3ZQ/0a1666", window=Window(T, T + timedelta(days=5)),
                  sequence=0, cancelled=False, stamp=T - timedelta(days=20), vms=vms)
    return Maintenance(**(values | fields))


def test_the_deadline_entry_ends_at_the_earliest_deadline_of_the_vms_still_to_do():
    later = Window(SELF_SERVICE.start, T + timedelta(days=1))
    found = entries(maintenance(vm("b", MaintenanceState.START_NOW, later), vm("a", MaintenanceState.RETRY_LATER),
                                vm("c", MaintenanceState.SCHEDULED), vm("d", MaintenanceState.ALREADY_UPDATED)),
                    "managers", ("deadline",))
    (deadline,) = found
    assert (deadline.start, deadline.end) == (T - DEADLINE_SLOT, T)
    assert [v.name for v in deadline.vms] == ["a", "b"] and deadline.total == 2


def test_the_reboot_entry_spans_the_scheduled_windows_of_the_vms_not_yet_updated():
    late = Window(SCHEDULED.start + timedelta(days=1), SCHEDULED.end + timedelta(days=3))
    (reboot,) = entries(maintenance(vm("x", MaintenanceState.SCHEDULED, scheduled=late),
                                    vm("y", MaintenanceState.START_NOW), vm("z", MaintenanceState.ALREADY_UPDATED)),
                        "managers", (REBOOT,))
    assert (reboot.start, reboot.end) == (SCHEDULED.start, late.end)
    assert [v.name for v in reboot.vms] == ["y", "x"]


def test_without_vm_windows_the_reboot_entry_takes_the_events_window_and_without_vms_there_is_none():
    (reboot,) = entries(maintenance(vm("x", MaintenanceState.SCHEDULED, scheduled=Window())), "r", (REBOOT,))
    assert reboot.window == Window(T, T + timedelta(days=5))
    assert entries(maintenance(vm("x", MaintenanceState.ALREADY_UPDATED)), "r", ("deadline", REBOOT)) == ()
    assert entries(maintenance(vm("x", MaintenanceState.START_NOW)), "r", ()) == ()


def test_uids_are_stable_per_maintenance_receiver_and_kind():
    one = uid("XY12-3ZQ", "managers", "deadline")
    assert one == uid("XY12-3ZQ", "managers", "deadline")
    assert len({one, uid("XY12-3ZQ", "managers", REBOOT), uid("XY12-3ZQ", "db-team", "deadline"),
                uid("AB34-5CD", "managers", "deadline")}) == 4
    assert one.endswith("@azure-maintenance-relay")


def test_a_long_list_is_cut_and_counted_and_the_file_reads_in_both_languages():
    many = tuple(vm(f"vm-{i:03d}", MaintenanceState.START_NOW) for i in range(VM_LIMIT + 7))
    found = entries(maintenance(*many, title="Wartung; \"quoted\", with\\backslash"), "managers", ("deadline",))
    data = calendar_file(found, "managers", ("ja", "en"))
    follows_import_rules(data)
    (event,) = read_both(data).values()
    assert event["summary"] == "セルフサービス期間の期限: VM 57 台 · XY12-3ZQ / Self-service deadline: 57 VMs · XY12-3ZQ"
    assert "ほか VM 7 台" in event["description"] and "and 7 VMs more" in event["description"]
    assert 'Wartung; "quoted", with\\backslash' in event["description"]
    assert "2027年2月10日(水) 9:00 JST（2027-02-10 00:00 UTC）" in event["description"]
    assert event["description"].count("vm-0") == 2 * VM_LIMIT


def test_an_english_receiver_reads_english_only():
    data = calendar_file(entries(maintenance(vm("a", MaintenanceState.START_NOW)), "web", ("deadline",)), "web", ("en",))
    (event,) = read_both(data).values()
    assert event["summary"] == "Self-service deadline: 1 VM · XY12-3ZQ"
    assert "セルフサービス" not in event["description"]


def test_an_empty_calendar_still_parses():
    data = calendar_file((), "nobody", ("ja", "en"))
    follows_import_rules(data)
    assert read_both(data) == {}


# -- the lifecycle through the pipeline: emails, the digest, the feed

CONFIG = {
    "receivers": [
        {"name": "managers", "channel": "outbox", "format": "email", "audience": "managers", "language": "both"},
        {"name": "db-team", "channel": "outbox", "format": "teams", "language": "ja", "calendar": ["reboot"]},
        {"name": "quiet", "channel": "outbox", "format": "email", "calendar": False},
    ],
    "route": {"receiver": "managers", "routes": [
        {"receiver": "managers", "continue": True},
        {"receiver": "quiet", "continue": True},
        {"receiver": "db-team", "match_re": {"resource_group": "rg-db(-.+)?"}},
    ]},
}


def canceled_alert() -> bytes:
    alert = json.loads((ALERTS / "03-rescheduled.json").read_text(encoding="utf-8"))
    context = alert["data"]["alertContext"]
    context["properties"] |= {"stage": "Canceled", "communicationId": "700000000000000009",
                              "communication": "<p>This maintenance has been canceled.</p>"}
    context["eventTimestamp"] = "2027-01-25T02:00:00+00:00"
    context["eventDataId"] = "e0e0e0e0-1111-4222-8333-444455550009"
    return json.dumps(alert).encode("utf-8")


STEPS = (
    ("Planned", (ALERTS / "01-planned.json").read_bytes(), datetime(2027, 1, 6, 0, 13, tzinfo=UTC),
     "2027-01-06-planned.json"),
    ("Rescheduled", (ALERTS / "03-rescheduled.json").read_bytes(), datetime(2027, 1, 20, 8, 41, tzinfo=UTC),
     "2027-01-20-rescheduled.json"),
    ("Canceled", canceled_alert(), datetime(2027, 1, 25, 2, 1, tzinfo=UTC), "2027-01-20-rescheduled.json"),
)


def calendar_of(path: Path) -> bytes | None:
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    parts = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    (part,) = parts
    assert part.get_param("method") == "PUBLISH" and part.get_filename() == "maintenance-XY12-3ZQ.ics"
    return part.get_payload(decode=True)


@pytest.fixture
def story(tmp_path):
    """The maintenance played to each stage; what each stage left: the managers' email and every feed."""
    config = parse_config(CONFIG, base=EXAMPLES)
    ledger = tmp_path / "ledger.sqlite"
    seen = {}
    for stage, body, at, inventory in STEPS:
        relay = open_relay(config, Paths(EXAMPLES / "inventory" / inventory, ledger, tmp_path / "out"), now=at)
        try:
            assert process(body, relay).ok
            feed = CalendarFeed(relay.ledger, config.receivers(), lambda at=at: at)
            mails = sorted((tmp_path / "out" / "managers").glob(f"*-{stage}.eml"))
            seen[stage] = {"mail": calendar_of(mails[-1]),
                           "feeds": {name: feed.file(name) for name in ("managers", "db-team")}}
        finally:
            relay.ledger.close()
    return seen


def test_planned_then_rescheduled_then_canceled_keeps_the_uids_and_raises_the_sequence(story):
    planned = read_both(story["Planned"]["mail"])
    rescheduled = read_both(story["Rescheduled"]["mail"])
    canceled = read_both(story["Canceled"]["mail"])
    deadline, reboot = uid("XY12-3ZQ", "managers", "deadline"), uid("XY12-3ZQ", "managers", "reboot")
    assert set(planned) == set(rescheduled) == set(canceled) == {deadline, reboot}
    assert [e[deadline]["sequence"] for e in (planned, rescheduled, canceled)] == [0, 1, 2]
    assert [e[reboot]["status"] for e in (planned, rescheduled, canceled)] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    # the moved windows of examples/inventory: 15:00 JST on 12 Jan became 9:00 JST on 17 Feb
    assert planned[deadline]["end"] == datetime(2027, 1, 12, 6, 0, tzinfo=UTC)
    assert rescheduled[deadline]["end"] == datetime(2027, 2, 17, 0, 0, tzinfo=UTC)
    assert canceled[deadline]["summary"].startswith("【中止】セルフサービス期間の期限")
    for stage in story.values():
        follows_import_rules(stage["mail"])


def test_the_feed_says_what_the_emails_said_and_cancels_with_the_last_times_told(story):
    for stage in ("Planned", "Rescheduled"):
        assert read_both(story[stage]["feeds"]["managers"].body) == read_both(story[stage]["mail"])
    after = read_both(story["Canceled"]["feeds"]["managers"].body)
    before = read_both(story["Rescheduled"]["feeds"]["managers"].body)
    assert {k: (e["start"], e["end"], e["status"], e["sequence"]) for k, e in after.items()} == {
        k: (e["start"], e["end"], "CANCELLED", 2) for k, e in before.items()}


def test_each_receiver_gets_its_own_vms_and_kinds_under_its_own_uids(story):
    feeds = story["Rescheduled"]["feeds"]
    (db,) = read_both(feeds["db-team"].body).items()
    assert db[0] == uid("XY12-3ZQ", "db-team", "reboot")
    assert db[1]["summary"].startswith("予定メンテナンス期間 (Azure が再起動): VM ") and " / " not in db[1]["summary"]
    managers = read_both(feeds["managers"].body)[uid("XY12-3ZQ", "managers", "reboot")]
    assert int(db[1]["summary"].split("VM ")[1].split(" 台")[0]) < int(managers["summary"].split("VM ")[1].split(" 台")[0])
    for stage in story.values():
        for feed in stage["feeds"].values():
            follows_import_rules(feed.body)


def test_a_receiver_without_a_calendar_gets_no_attachment_and_no_feed(story, tmp_path):
    for path in (tmp_path / "out" / "quiet").glob("*.eml"):
        assert calendar_of(path) is None
    feed = CalendarFeed(None, parse_config(CONFIG, base=EXAMPLES).receivers(), lambda: T)  # type: ignore[arg-type]
    with pytest.raises(NoCalendar, match="no receiver 'quiet' with a calendar; those with one: db-team, managers"):
        feed.file("quiet")
    with pytest.raises(ReceiverNeeded, match="name the receiver"):
        feed.file(None)


def test_a_maintenance_over_for_more_than_30_days_leaves_the_feed(tmp_path):
    config = parse_config(CONFIG, base=EXAMPLES)
    _, body, at, inventory = STEPS[0]
    relay = open_relay(config, Paths(EXAMPLES / "inventory" / inventory, tmp_path / "l.sqlite", tmp_path / "o"), now=at)
    try:
        assert process(body, relay).ok
        managers = config.receivers()["managers"]
        window_end = datetime(2027, 2, 20, 15, 0, tzinfo=UTC)  # impactMitigationTime of 01-planned.json
        assert receiver_entries(relay.ledger, managers, window_end + timedelta(days=29))
        assert receiver_entries(relay.ledger, managers, window_end + timedelta(days=31)) == ()
    finally:
        relay.ledger.close()


# -- the answer of GET /api/calendar.ics


def test_the_etag_is_answered_with_304_and_changes_with_the_file(tmp_path):
    config = parse_config(CONFIG, base=EXAMPLES)
    etag = None
    for (stage, body, at, inventory), still in zip(STEPS[:2], (True, False), strict=True):
        relay = open_relay(config, Paths(EXAMPLES / "inventory" / inventory, tmp_path / "l.sqlite", tmp_path / "o"),
                           now=at)
        try:
            assert process(body, relay).ok
            feed = CalendarFeed(relay.ledger, config.receivers(), lambda at=at: at)
            fresh = calendar_reply(feed, "managers", None)
            assert fresh.status == 200 and fresh.content_type == "text/calendar", stage
            assert fresh.body == feed.file("managers").body and fresh.headers["Cache-Control"] == "no-cache"
            etag = etag or fresh.headers["ETag"]
            again = calendar_reply(feed, "managers", etag)
            assert (again.status, again.body) == ((304, b"") if still else (200, fresh.body)), stage
            assert again.headers["ETag"] == fresh.headers["ETag"]
        finally:
            relay.ledger.close()
    assert fresh.headers["ETag"] != etag  # the rescheduled file is another


def test_if_none_match_is_compared_weakly_and_takes_lists_and_star():
    assert matches('"a", W/"b"', '"b"') and matches("*", '"x"') and matches('"x"', '"x"')
    assert not matches('"a"', '"b"') and not matches(None, '"b"') and not matches("", '"b"')


def test_unknown_and_unnamed_receivers_are_problems():
    feed = CalendarFeed(None, {"a": Receiver("a", "email"), "b": Receiver("b", "teams")}, lambda: T)  # type: ignore[arg-type]
    unnamed = calendar_reply(feed, None, None)
    assert unnamed.status == 400 and unnamed.content_type == "application/problem+json"
    assert json.loads(unnamed.body)["detail"] == "name the receiver (receiver=NAME); those with a calendar: a, b"
    assert calendar_reply(feed, "nobody", None).status == 404
    alone = replace(feed, receivers={"a": Receiver("a", "email"), "b": Receiver("b", "teams", calendar=())})
    assert alone.receiver(None).name == "a"


def test_the_calendar_setting_is_checked():
    from relay.config import ConfigError

    with pytest.raises(ConfigError) as error:
        parse_config({"receivers": [{"name": "a", "channel": "outbox", "format": "email", "calendar": ["reboots"]},
                                    {"name": "b", "channel": "outbox", "format": "email", "calendar": 3}]})
    assert error.value.problems == (
        "receivers[0].calendar: 'reboots' is unknown; did you mean reboot?",
        "receivers[1].calendar: true (the default), false, or a list of deadline, reboot (got 3)",
    )
    chosen = parse_config({"receivers": [{"name": "a", "channel": "outbox", "format": "email", "calendar": "Deadline"},
                                         {"name": "b", "channel": "outbox", "format": "teams"}]}).receivers()
    assert (chosen["a"].calendar, chosen["b"].calendar) == (("deadline",), ("deadline", "reboot"))


def test_config_check_names_the_line_of_a_wrong_calendar_setting(tmp_path, capsys):
    from relay.cli import main

    config = tmp_path / "relay.yaml"
    config.write_text("receivers:\n  - name: managers\n    channel: outbox\n    format: email\n"
                      "    calendar: [deadline, reboots]\n", encoding="utf-8")
    assert main(["config", "check", str(config)]) == 2
    assert f"{config}:5: receivers[0].calendar: 'reboots' is unknown; did you mean reboot?" in capsys.readouterr().out


def test_relay_calendar_writes_the_feed_of_the_ledger(story, tmp_path, capsys):
    from relay.cli import main

    config = tmp_path / "relay.yaml"
    config.write_text(json.dumps(CONFIG | {"inventory": str(EXAMPLES / "inventory.json"),
                                           "ledger": str(tmp_path / "ledger.sqlite")}), encoding="utf-8")
    out = tmp_path / "managers.ics"
    assert main(["calendar", "--config", str(config), "--receiver", "managers", "--out", str(out),
                 "--now", "2027-01-25T02:01:00Z"]) == 0
    assert out.read_bytes() == story["Canceled"]["feeds"]["managers"].body
    assert main(["calendar", "--config", str(config)]) == 2
    assert "name the receiver" in capsys.readouterr().err
