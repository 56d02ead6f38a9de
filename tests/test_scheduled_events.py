"""Scheduled Event reports from the agent: the parser, the dedup keys, and what the messages say."""
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.agent.wire import report
from relay.alerts import PayloadError, parse_alert
from relay.enrich import NoInventory, enrich
from relay.hosts.intake import SCHEDULED_EVENTS, ingest
from relay.model import EventKind, Notification, PriorNotice, Receiver, Window
from relay.render import render
from relay.routing import ReceiverFilter, Routes, split
from tests.properties import examples
from tests.render_fixtures import assert_cards_valid, slack_payload

NOW = datetime(2026, 1, 20, 15, 6, tzinfo=UTC)
NOT_BEFORE = datetime(2026, 1, 20, 15, 20, tzinfo=UTC)
EVENT_ID = "5C0FFEE1-0000-4000-8000-000000000042"
VM = {"name": "vm-web-01", "location": "japaneast",
      "resourceId": "/subscriptions/0a1b2c3d-1111-2222-3333-444455556666/resourceGroups/rg-web"
                    "/providers/Microsoft.Compute/virtualMachines/vm-web-01"}


def imds_event(**fields) -> dict:
    event = {"EventId": EVENT_ID, "EventType": "Reboot", "ResourceType": "VirtualMachine",
             "Resources": ["vm-web-01", "vm-web-02"], "EventStatus": "Scheduled",
             "NotBefore": "Tue, 20 Jan 2026 15:20:00 GMT", "Description": "Host server is undergoing maintenance.",
             "EventSource": "Platform", "DurationInSeconds": -1}
    return {**event, **fields}


def body(vm=None, **fields) -> bytes:
    return json.dumps(report(vm or VM, imds_event(**fields), NOW)).encode()


def problems(raw) -> dict[str, str]:
    with pytest.raises(PayloadError) as caught:
        parse_alert(raw)
    return {p.path: p.message for p in caught.value.problems}


# -- parsing ---------------------------------------------------------------------------------------------------


def test_a_report_becomes_a_scheduled_event():
    event = parse_alert(body())
    assert event.kind is EventKind.SCHEDULED and event.stage == "Scheduled" and event.warnings == ()
    s = event.scheduled
    assert (s.event_id, s.type, s.status, s.not_before) == (EVENT_ID, "Reboot", "Scheduled", NOT_BEFORE)
    assert s.duration_seconds is None and s.source == "Platform" and s.reported_by == "vm-web-01"
    assert s.vms == ("vm-web-01", "vm-web-02")
    assert event.subscription_ids == ("0a1b2c3d-1111-2222-3333-444455556666",) and event.regions == ("japaneast",)
    assert event.resource.resource_id == VM["resourceId"] and event.title == "Host server is undergoing maintenance."
    assert event.event_time == NOW and event.window == Window(NOT_BEFORE, None)


def test_a_known_duration_ends_the_window_and_names_take_azures_spelling():
    event = parse_alert(body(DurationInSeconds=900, EventType="redeploy", EventStatus="scheduled"))
    assert event.window == Window(NOT_BEFORE, NOT_BEFORE + timedelta(minutes=15))
    assert (event.scheduled.type, event.scheduled.status, event.scheduled.duration_seconds) == ("Redeploy", "Scheduled", 900)


def test_started_events_have_no_not_before():
    event = parse_alert(body(EventStatus="Started", NotBefore=""))
    assert event.scheduled.not_before is None and event.window == Window() and event.warnings == ()


def test_every_problem_is_reported_with_its_path():
    found = problems(json.dumps({"schemaId": "relay/scheduledEvent",
                                 "data": {"vm": {"name": ""}, "event": {"EventType": ["x"], "EventStatus": None}}}))
    assert set(found) == {"$.data.vm.name", "$.data.event.EventId", "$.data.event.EventType",
                          "$.data.event.EventStatus"}
    assert problems(b'{"schemaId": "relay/scheduledEvent"}') == {"$.data": "missing; expected an object"}
    assert set(problems(b'{"schemaId": "relay/scheduledEvent", "data": {}}')) == {"$.data.vm", "$.data.event"}


def test_odd_optional_fields_are_warnings_read_as_unknown():
    event = parse_alert(body(NotBefore="soon", DurationInSeconds="long", EventType="LiveMigration", Resources=None,
                             vm={"name": "vm-web-01", "resourceId": "not-an-id"}))
    paths = {w.split(":")[0] for w in event.warnings}
    assert paths == {"$.data.event.EventType", "$.data.event.NotBefore", "$.data.event.DurationInSeconds",
                     "$.data.event.Resources", "$.data.vm.resourceId"}
    assert event.scheduled.type == "LiveMigration" and event.scheduled.not_before is None
    assert event.scheduled.vms == ("vm-web-01",) and event.subscription_ids == ()


def test_the_intake_answers_202_or_a_problem_per_path():
    assert ingest(body(), lambda raw, event: "kept", SCHEDULED_EVENTS).status == 202
    reply = ingest(b'{"schemaId": "relay/scheduledEvent", "data": {"vm": {}, "event": {}}}', lambda raw, event: "x",
                   SCHEDULED_EVENTS)
    assert reply.status == 400
    assert {e["path"] for e in reply.body["errors"]} == {"$.data.vm.name", "$.data.event.EventId",
                                                          "$.data.event.EventType", "$.data.event.EventStatus"}


LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
FIELD = st.sampled_from(["EventId", "EventType", "EventStatus", "NotBefore", "Resources", "DurationInSeconds",
                         "Description", "EventSource"])


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIELD, LEAF | st.lists(LEAF, max_size=3)),
       st.dictionaries(st.sampled_from(["name", "resourceId", "location"]), LEAF),
       st.sampled_from([None, "observedAt"]), LEAF)
def test_any_report_is_an_event_or_a_clean_rejection(event, vm, observed_key, observed):
    data = {"vm": vm, "event": event}
    if observed_key:
        data[observed_key] = observed
    raw = json.dumps({"schemaId": "relay/scheduledEvent", "data": data})
    try:
        parsed = parse_alert(raw)
    except PayloadError as e:
        assert e.problems and all(p.path.startswith("$.data") for p in e.problems)
        return
    assert parsed.kind is EventKind.SCHEDULED and parsed.scheduled.event_id
    assert parsed.scheduled.reported_by in parsed.scheduled.vms
    render(Notification(enrich(parsed, NoInventory(), NOW)), Receiver("teams", "teams"))


# -- deduplication -----------------------------------------------------------------------------------------------


def test_vms_sharing_an_event_share_its_keys_and_a_change_is_a_new_communication_of_the_thread():
    first = parse_alert(body())
    second = parse_alert(body(vm={**VM, "name": "vm-web-02"}))
    moved = parse_alert(body(NotBefore="Tue, 20 Jan 2026 15:30:00 GMT"))
    started = parse_alert(body(EventStatus="Started", NotBefore=""))
    assert first.dedup_key == second.dedup_key
    assert len({first.dedup_key, moved.dedup_key, started.dedup_key}) == 3
    assert first.thread_key == moved.thread_key == started.thread_key == f"scheduled/{EVENT_ID}".lower()


def test_routing_matches_the_kind_subscription_and_resource_group():
    import re

    from relay.routing import Condition, Route

    oncall, others = Receiver("oncall", "slack"), Receiver("others", "slack")
    tree = Route(receiver="others", routes=(Route("oncall", (
        Condition("kind", (re.compile("scheduled"),)), Condition("resource_group", (re.compile("rg-web"),)),
        Condition("subscription", (re.compile("0a1b2c3d-.*"),)), Condition("region", (re.compile("japaneast"),)))),))
    routes = Routes((ReceiverFilter(oncall), ReceiverFilter(others)), tree)
    event = parse_alert(body())
    assert [r.name for r, _ in split(Notification(enrich(event, NoInventory(), NOW)), routes)] == ["oncall"]


# -- messages ------------------------------------------------------------------------------------------------------


def message(raw: bytes, channel: str, prior: PriorNotice | None = None) -> str:
    notification = Notification(enrich(parse_alert(raw), NoInventory(), NOW), prior)
    return render(notification, Receiver(channel, channel)).body.decode()


def email_text(raw: bytes, prior=None) -> str:
    import email
    from email import policy

    msg = email.message_from_bytes(message(raw, "email", prior).encode(), policy=policy.default)
    return msg["Subject"] + "\n" + msg.get_body(("plain",)).get_content()


def test_the_message_says_which_vms_when_in_jst_and_utc_and_how_long_until():
    text = email_text(body())
    assert text.startswith("【VM の再起動】スケジュール済み")
    assert ("vm-web-01、vm-web-02 は 2026年1月21日(水) 0:20 JST（2026-01-20 15:20 UTC）以降に再起動されます"
            "（あと14分）。") in text
    assert ("vm-web-01, vm-web-02 will be rebooted not before Wed 21 Jan 2026 00:20 JST (2026-01-20 15:20 UTC)"
            " — 14m left.") in text
    assert "イベント ID: " + EVENT_ID in text and "影響時間: 不明" in text and "対象 VM: vm-web-01、vm-web-02（2 台）" in text
    assert "通知元: vm-web-01 上の relay agent" in text and "Reported by: relay agent on vm-web-01" in text
    assert "StartRequests" in text and "portal.azure.com" in text and "app.azure.com/h/" not in text


def test_updates_say_what_changed():
    earlier = PriorNotice("Scheduled", Window(datetime(2026, 1, 20, 15, 10, tzinfo=UTC)), NOW)
    moved = email_text(body(), earlier)
    assert "（更新）" in moved and "開始時刻が変わりました（前回: 2026年1月21日(水) 0:10 JST" in moved
    assert "The time has changed (it was Wed 21 Jan 2026 00:10 JST" in moved
    started = email_text(body(EventStatus="Started", NotBefore=""), PriorNotice("Scheduled", Window(NOT_BEFORE), NOW))
    assert "【VM の再起動】開始済み（更新）" in started and "vm-web-01、vm-web-02 の再起動が始まりました。" in started
    assert "The reboot of vm-web-01, vm-web-02 has started." in started and "開始時刻が変わりました" not in started


@pytest.mark.parametrize("kind, ja, en", [
    ("Freeze", "数秒間一時停止（フリーズ）されます", "paused for a few seconds (freeze)"),
    ("Redeploy", "別のホストへ再デプロイされます", "redeployed to another host"),
    ("Preempt", "スポット VM vm-web-01、vm-web-02 は", "Spot VM vm-web-01, vm-web-02 will be deleted"),
    ("Terminate", "削除されます", "will be deleted"),
])
def test_each_event_type_is_said_plainly(kind, ja, en):
    text = email_text(body(EventType=kind, DurationInSeconds=0))
    assert ja in text and en in text and "影響時間: 影響なし" in text


def test_slack_and_teams_messages_are_urgent_valid_and_carry_the_countdown(tmp_path):
    slack = slack_payload(message(body(), "slack").encode())
    assert slack["blocks"][0]["text"]["text"].startswith("🚨 【VM の再起動】スケジュール済み")
    assert slack["text"].startswith("【VM の再起動】スケジュール済み / [VM reboot] Scheduled")
    started = body(EventStatus="Started", NotBefore="", EventType="Redeploy")
    cards = {"scheduled": message(body(), "teams").encode(), "started": message(started, "teams").encode(),
             "update": message(body(), "teams", PriorNotice("Scheduled", Window(NOW), NOW)).encode()}
    assert_cards_valid(cards, tmp_path)
    texts = json.dumps(json.loads(cards["scheduled"]), ensure_ascii=False)
    assert "あと14分" in texts and "14m left" in texts and "vm-web-02" in texts
