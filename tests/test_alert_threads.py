"""An Azure Monitor alert through the whole pipeline: Fired, then Resolved in the Fired one's Slack thread (keyed by
its alertId) with the first message updated, each (alertId, monitorCondition) sent once however often it
arrives, a late Fired after its Resolved telling nothing; against loopback Slack and Teams over HTTPS."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk.models.blocks import Block

from relay.config import default_config, parse_config
from relay.hosts.wiring import Paths, open_relay
from relay.pipeline import process
from tests.sinks.slack import CHANNEL, SlackSink
from tests.sinks.teams import TeamsSink

ALERTS = Path(__file__).resolve().parent.parent / "examples" / "alerts"
FIRED = (ALERTS / "08-metric-fired.json").read_bytes()
RESOLVED = (ALERTS / "09-metric-resolved.json").read_bytes()
THREAD = "alert//subscriptions/11111111-2222-3333-4444-555555555555/providers/microsoft.alertsmanagement/alerts/" \
         "0a1b2c3d-0008-4000-8000-00000000a008"
NOW = datetime(2027, 1, 14, 4, tzinfo=UTC)


def test_resolved_replies_in_the_thread_of_fired_and_updates_it(ca, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    with TeamsSink(tls=ca) as teams, SlackSink(tls=ca) as slack:
        config = parse_config({"receivers": [
            {"name": "oncall-teams", "channel": "teams", "destination": "TEAMS_URL", "max_per_second": 50},
            {"name": "oncall-slack", "channel": "slack", "token": "SLACK_TOKEN", "slack_channel": CHANNEL,
             "api_url": slack.api_url, "max_per_second": 50},
        ]})
        environ = {"TEAMS_URL": teams.url, "SLACK_TOKEN": slack.token}
        relay = open_relay(config, Paths(None, tmp_path / "ledger.sqlite", tmp_path / "outbox"), now=NOW,
                           environ=environ)
        relay.sleep = lambda seconds: None
        try:
            outcomes = [process(body, relay) for body in (FIRED, FIRED, RESOLVED, RESOLVED)]
            thread = relay.ledger.thread_reference(THREAD, "oncall-slack")
        finally:
            relay.ledger.close()

    assert [o.status for o in outcomes] == ["delivered", "duplicate", "delivered", "duplicate"]
    assert len(teams.cards) == 2 and all(card["type"] == "AdaptiveCard" for card in teams.cards)
    parent, reply = slack.messages
    assert thread == f"{CHANNEL}:{parent['ts']}"
    assert "thread_ts" not in parent and reply["thread_ts"] == parent["ts"]
    assert parent["text"].startswith("【Sev1・発生】er-bits-in-low（er-tokyo-01）")
    assert reply["text"].startswith("【Sev1・解決】er-bits-in-low（er-tokyo-01）継続 47分")
    assert all(Block.parse_all(m["blocks"]) for m in (parent, reply))
    # the first message now says it resolved, as a maintenance thread's first message shows its latest stage
    assert slack.updates and slack.updates[0]["ts"] == parent["ts"]
    assert slack.current(CHANNEL, parent["ts"])["text"] == reply["text"]


def outbox_relay(tmp_path: Path):
    relay = open_relay(default_config(), Paths(None, tmp_path / "ledger.sqlite", tmp_path / "outbox"), now=NOW)
    relay.sleep = lambda seconds: None
    return relay


def test_each_firing_and_resolution_is_sent_once(tmp_path):
    relay = outbox_relay(tmp_path)
    try:
        statuses = [process(body, relay).status for body in (FIRED, RESOLVED, FIRED, RESOLVED, FIRED)]
    finally:
        relay.ledger.close()
    assert statuses == ["delivered", "delivered", "duplicate", "duplicate", "duplicate"]
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "outbox" / "teams").iterdir()) == \
        ["Fired.json", "Resolved.json"]


def test_a_fired_that_arrives_after_its_resolved_tells_nothing(tmp_path):
    relay = outbox_relay(tmp_path)
    try:
        resolved, fired = process(RESOLVED, relay), process(FIRED, relay)
    finally:
        relay.ledger.close()
    assert resolved.status == "delivered"
    assert fired.status == "superseded" and fired.superseded_by == "Resolved"


def test_a_test_notification_sent_again_later_is_sent_again(tmp_path):
    sample = json.loads((Path(__file__).resolve().parent / "payloads" / "common" / "test-metric-static.json")
                        .read_text(encoding="utf-8"))
    again = json.loads(json.dumps(sample))
    again["data"]["essentials"]["firedDateTime"] = "2025-04-16T09:00:00Z"
    relay = outbox_relay(tmp_path)
    try:
        statuses = [process(json.dumps(doc).encode(), relay).status for doc in (sample, sample, again)]
    finally:
        relay.ledger.close()
    assert statuses == ["delivered", "duplicate", "delivered"]
