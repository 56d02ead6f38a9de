"""Slack, against a loopback Slack over HTTPS: the incoming webhook, the bot (threads and updates), how
every failure is classified, that neither the webhook URL nor the token leaks; and the whole pipeline
relaying a planned maintenance and its reschedule to Teams and Slack."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from relay.channels import ChannelUnavailable, destination_key
from relay.channels.slack import SlackBotChannel, SlackWebhookChannel, from_receiver
from relay.config import parse_config
from relay.hosts.wiring import Paths, open_relay
from relay.model import Receiver
from relay.pipeline import process
from relay.render import render
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.sinks.server import TestCA
from tests.sinks.slack import CHANNEL, SlackSink
from tests.sinks.teams import TeamsSink

HOOK_ENV, TOKEN_ENV = "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def sink(ca):
    with SlackSink(tls=ca) as sink:
        yield sink


@pytest.fixture
def ledger():
    ledger = SqliteLedger(":memory:")
    yield ledger
    ledger.close()


def webhook_receiver(**options: str) -> Receiver:
    return Receiver("ops-slack", "slack", transport="slack", destination_env=HOOK_ENV, options=options)


def bot_receiver(**options: str) -> Receiver:
    options = {"slack_channel": CHANNEL, **options}
    return Receiver("ops-slack-bot", "slack", transport="slack-bot", destination_env=TOKEN_ENV, options=options)


def webhook(sink: SlackSink, ca: TestCA, timeout: float = 0.5) -> SlackWebhookChannel:
    return from_receiver(webhook_receiver(), environ={HOOK_ENV: sink.webhook_url}, threads=None, timeout=timeout,
                         ssl_context=ca.client_context())


def bot(sink: SlackSink, ca: TestCA, ledger: SqliteLedger, timeout: float = 0.5, **options: str) -> SlackBotChannel:
    return from_receiver(bot_receiver(api_url=sink.api_url, **options), environ={TOKEN_ENV: sink.token},
                         threads=ledger, timeout=timeout, ssl_context=ca.client_context())


@pytest.fixture
def planned():
    return render(f.planned(), bot_receiver())


@pytest.fixture
def rescheduled():
    return render(f.rescheduled_update(), bot_receiver())


def api_calls(sink: SlackSink) -> list[str]:
    return [r.path.removeprefix("/api/") for r in sink.requests]


# --- incoming webhook ---


def test_webhook_delivers_blocks_slack_can_parse(sink, ca, planned):
    result = webhook(sink, ca).send(planned)
    assert result.ok
    assert sink.posts == [json.loads(planned.body)]
    blocks = Block.parse_all(sink.posts[0]["blocks"])
    assert [b.type for b in blocks] == [b["type"] for b in sink.posts[0]["blocks"]]
    assert blocks[0].type == "header"


@pytest.mark.parametrize("status, code", [
    (400, "invalid_payload"), (400, "no_text"), (403, "action_prohibited"), (403, "invalid_token"),
    (404, "channel_not_found"), (404, "no_service"), (410, "channel_is_archived"),
    (403, "posting_to_general_channel_denied"),
])
def test_webhook_refusals_are_final_and_named(sink, ca, planned, status, code):
    sink.fail_next(status, body=code)
    result = webhook(sink, ca).send(planned)
    assert (result.ok, result.retryable, result.detail) == (False, False, code)


@pytest.mark.parametrize("fault, retry_after", [
    (dict(status=429, retry_after=30, body="rate_limited"), 30.0),
    (dict(status=500), None),
    (dict(status=503, body="service_unavailable"), None),
    (dict(status=200, delay=2.0), None),  # slower than the client's timeout
    (dict(drop=True), None),
])
def test_webhook_transient_failures_are_retryable(sink, ca, planned, fault, retry_after):
    sink.fail_next(**fault)
    result = webhook(sink, ca, timeout=0.3).send(planned)
    assert (result.ok, result.retryable, result.retry_after) == (False, True, retry_after)
    assert sink.posts == []


def test_webhook_payloads_the_sink_itself_refuses(sink, ca, planned):
    channel = webhook(sink, ca)
    assert channel.send(replace(planned, body=b'{"text": "x", "blocks": "not a list"}')).detail == "invalid_payload"
    assert channel.send(replace(planned, body=b'{"text": ""}')).detail == "no_text"


def test_webhook_rate_is_paced_and_throttled(ca, planned):
    with SlackSink(tls=ca, per_second=1) as sink:
        channel = webhook(sink, ca)
        first, second = channel.send(planned), channel.send(planned)
    assert first.ok and not second.ok and second.retryable and second.retry_after == 1.0
    assert sink.throttled == 1
    assert channel.limit.per_second == 1.0 and channel.limit.key == destination_key(sink.webhook_url)


# --- bot: threads and updates ---


def test_bot_posts_the_first_message_and_keeps_its_ts(sink, ca, ledger, planned):
    result = bot(sink, ca, ledger).send(planned)
    assert result.ok and result.reference == "1700000000.000100"
    assert ledger.thread_reference(planned.thread_key, "ops-slack-bot") == f"{CHANNEL}:1700000000.000100"
    [posted] = sink.messages
    assert posted["channel"] == CHANNEL and "thread_ts" not in posted
    assert posted["text"] == json.loads(planned.body)["text"]
    assert Block.parse_all(posted["blocks"])[0].type == "header"


def test_bot_replies_in_the_thread_and_updates_the_parent(sink, ca, ledger, planned, rescheduled):
    assert planned.thread_key == rescheduled.thread_key
    first = bot(sink, ca, ledger).send(planned)
    later = bot(sink, ca, ledger).send(rescheduled)  # a new channel object: the thread comes from the ledger
    assert later.ok and later.reference == "1700000000.000200"
    parent, reply = sink.messages
    assert reply["thread_ts"] == first.reference and reply["reply_broadcast"] is False
    assert reply["text"] == json.loads(rescheduled.body)["text"]
    assert sink.updates == [{"channel": CHANNEL, "ts": first.reference, **json.loads(rescheduled.body)}]
    assert sink.current(CHANNEL, first.reference)["text"] == reply["text"]
    assert api_calls(sink) == ["chat.postMessage", "chat.update", "chat.postMessage"]
    assert "could not" not in later.detail


@pytest.mark.parametrize("code", ["cant_update_message", "message_not_found"])
def test_a_parent_that_cannot_be_updated_still_gets_the_reply(sink, ca, ledger, planned, rescheduled, code):
    channel = bot(sink, ca, ledger)
    channel.send(planned)
    sink.fail_next(200, method="chat.update", body={"ok": False, "error": code})
    result = channel.send(rescheduled)
    assert result.ok and code in result.detail
    assert sink.messages[1]["thread_ts"] == sink.messages[0]["ts"]


def test_a_retry_after_a_failed_update_posts_the_reply_once(sink, ca, ledger, planned, rescheduled):
    channel = bot(sink, ca, ledger)
    channel.send(planned)
    sink.fail_next(429, method="chat.update", retry_after=3, body={"ok": False, "error": "ratelimited"})
    refused = channel.send(rescheduled)
    assert not refused.ok and refused.retryable and refused.retry_after == 3.0 and "chat.update" in refused.detail
    assert len(sink.messages) == 1  # nothing posted yet
    assert channel.send(rescheduled).ok
    assert [m.get("thread_ts") for m in sink.messages] == [None, sink.messages[0]["ts"]]


def test_a_retry_after_a_failed_reply_posts_the_reply_once(sink, ca, ledger, planned, rescheduled):
    channel = bot(sink, ca, ledger)
    channel.send(planned)
    sink.fail_next(503, method="chat.postMessage")
    refused = channel.send(rescheduled)
    assert not refused.ok and refused.retryable and "reply" in refused.detail
    assert channel.send(rescheduled).ok
    assert len(sink.messages) == 2 and len(sink.updates) == 2  # the update is repeated, which is harmless


def test_a_failed_first_post_starts_no_thread(sink, ca, ledger, planned):
    channel = bot(sink, ca, ledger)
    sink.fail_next(500)
    assert channel.send(planned).retryable
    assert ledger.thread_reference(planned.thread_key, "ops-slack-bot") is None
    assert channel.send(planned).ok and "thread_ts" not in sink.messages[0]


@pytest.mark.parametrize("code", ["not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks"])
def test_bot_refusals_are_final(sink, ca, ledger, planned, code):
    sink.fail_next(200, body={"ok": False, "error": code})
    result = bot(sink, ca, ledger).send(planned)
    assert (result.ok, result.retryable, result.detail) == (False, False, f"Slack chat.postMessage: {code}")


def test_bot_refusals_from_the_sink_itself(sink, ca, ledger, planned):
    wrong_channel = bot(sink, ca, ledger, slack_channel="C0000000000").send(planned)
    assert (wrong_channel.retryable, wrong_channel.detail) == (False, "Slack chat.postMessage: channel_not_found")
    wrong_token = from_receiver(bot_receiver(api_url=sink.api_url), environ={TOKEN_ENV: "xoxb-0-wrong"},
                                threads=ledger, ssl_context=ca.client_context()).send(planned)
    assert (wrong_token.retryable, wrong_token.detail) == (False, "Slack chat.postMessage: invalid_auth")


@pytest.mark.parametrize("fault, retry_after", [
    (dict(status=429, retry_after=12, body={"ok": False, "error": "ratelimited"}), 12.0),
    (dict(status=200, body={"ok": False, "error": "internal_error"}), None),
    (dict(status=500, body="<html>oops</html>"), None),
    (dict(status=503), None),
    (dict(status=200, delay=2.0), None),
    (dict(drop=True), None),
])
def test_bot_transient_failures_are_retryable(sink, ca, ledger, planned, fault, retry_after):
    sink.fail_next(**fault)
    result = bot(sink, ca, ledger, timeout=0.3).send(planned)
    assert (result.ok, result.retryable, result.retry_after) == (False, True, retry_after)


def test_bot_throttled_by_the_sink(ca, ledger, planned, rescheduled):
    with SlackSink(tls=ca, per_second=1) as sink:
        channel = bot(sink, ca, ledger)
        channel.send(planned)
        result = channel.send(rescheduled)
    assert not result.ok and result.retryable and result.retry_after == 1.0 and sink.throttled == 1


# --- setup ---


def test_bot_limit_is_per_channel(sink, ledger):
    one = from_receiver(bot_receiver(api_url=sink.api_url), environ={TOKEN_ENV: sink.token}, threads=ledger)
    two = from_receiver(bot_receiver(api_url=sink.api_url, slack_channel="C0000000002"),
                        environ={TOKEN_ENV: sink.token}, threads=ledger)
    assert one.limit.per_second == 1.0 and one.limit.key != two.limit.key
    assert sink.token not in one.limit.key


@pytest.mark.parametrize("receiver, environ, names", [
    (webhook_receiver(), {}, HOOK_ENV),
    (bot_receiver(), {HOOK_ENV: "https://hooks.slack.com/services/T1/B1/s3cr3t"}, TOKEN_ENV),
    (webhook_receiver(), {HOOK_ENV: "http://hooks.slack.com/services/T1/B1/s3cr3t"}, HOOK_ENV),
    (bot_receiver(api_url="http://slack.example.com/api/"), {TOKEN_ENV: "xoxb-s3cr3t"}, "api_url"),
    (bot_receiver(slack_channel=""), {TOKEN_ENV: "xoxb-s3cr3t"}, "slack_channel"),
])
def test_what_cannot_work_is_refused_up_front(receiver, environ, names, ledger):
    with pytest.raises(ChannelUnavailable) as refused:
        from_receiver(receiver, environ=environ, threads=ledger)
    assert names in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_neither_the_webhook_url_nor_the_token_leaks(sink, ca, ledger, planned, rescheduled, caplog):
    caplog.set_level(logging.DEBUG)
    hook, channel = webhook(sink, ca, timeout=0.3), bot(sink, ca, ledger, timeout=0.3)
    results = [hook.send(planned), channel.send(planned), channel.send(rescheduled)]
    common = [dict(drop=True), dict(status=200, delay=1.0), dict(status=429, retry_after=1, body="rate_limited")]
    for target, echo in ((hook, sink.webhook_url), (channel, sink.token)):  # even a server echoing the secret
        for fault in common + [dict(status=500, body=f"<p>{echo}</p>"), dict(status=404, body=echo)]:
            sink.fail_next(**fault)
            results.append(target.send(rescheduled))
    assert all(r.ok for r in results[:3]) and not any(r.ok for r in results[3:])
    assert any(r.name.startswith("relay.channels.slack") for r in caplog.records)  # slack_sdk did say something
    said = [r.detail for r in results] + [r.getMessage() for r in caplog.records]
    secret = sink.hook_path.rsplit("/", 1)[1]
    for text in said:
        assert sink.token not in text and secret not in text and "/services/" not in text


# --- the whole pipeline ---


def test_the_pipeline_relays_a_planned_maintenance_and_its_reschedule(ca, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))  # the default TLS context trusts the test CA
    with TeamsSink(tls=ca) as teams, SlackSink(tls=ca) as slack:
        config = parse_config({"receivers": [
            {"name": "oncall-teams", "channel": "teams", "destination": "TEAMS_URL", "max_per_second": 50},
            {"name": "ops-slack", "channel": "slack", "destination": HOOK_ENV, "max_per_second": 50},
            {"name": "ops-slack-bot", "channel": "slack", "token": TOKEN_ENV, "slack_channel": CHANNEL,
             "api_url": slack.api_url, "max_per_second": 50},
        ]})
        environ = {"TEAMS_URL": teams.url, HOOK_ENV: slack.webhook_url, TOKEN_ENV: slack.token}
        paths = Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite", tmp_path / "outbox")
        relay = open_relay(config, paths, now=datetime(2027, 1, 12, tzinfo=UTC), environ=environ)
        relay.sleep = lambda seconds: None
        try:
            planned = process((EXAMPLES / "alerts" / "01-planned.json").read_bytes(), relay)
            rescheduled = process((EXAMPLES / "alerts" / "03-rescheduled.json").read_bytes(), relay)
            thread = relay.ledger.thread_reference("XY12-3ZQ", "ops-slack-bot")
        finally:
            relay.ledger.close()

    assert planned.ok and rescheduled.ok, [d.result.detail for d in planned.deliveries + rescheduled.deliveries]
    assert len(teams.cards) == 2 and all(card["type"] == "AdaptiveCard" for card in teams.cards)
    assert len(slack.posts) == 2 and all(Block.parse_all(p["blocks"]) for p in slack.posts)

    parent, reply = slack.messages
    assert thread == f"{CHANNEL}:{parent['ts']}"
    assert "thread_ts" not in parent and reply["thread_ts"] == parent["ts"]
    assert slack.updates and slack.updates[0]["ts"] == parent["ts"]
    assert slack.current(CHANNEL, parent["ts"])["text"] == reply["text"] != parent["text"]
    assert reply["text"] == slack.posts[1]["text"]  # the same rendered message as the webhook's

    said = [d.result.detail for d in planned.deliveries + rescheduled.deliveries] + [r.getMessage() for r in caplog.records]
    for secret in (teams.sig, slack.token, slack.hook_path):
        assert not any(secret in text for text in said)
