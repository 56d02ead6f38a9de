"""The Slack bot as a destination that can tell what it already has (relay.channels.Checkable), against a loopback
Slack over HTTPS: every post carries its attempt's delivery id in its metadata, and `find` reads it back from the
channel's history (a first message) or the event's thread (a reply), page after page; an answer lost after Slack
took the message is an unknown outcome, which `find` then settles, so the message is not posted twice (and the
pipeline, which asks before it sends again, posts each message once)."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from relay.channels import destination_key
from relay.channels.slack import LOOKUP_PER_SECOND, SlackBotChannel, from_receiver
from relay.config import parse_config
from relay.hosts.wiring import Paths, open_relay
from relay.model import Attempt, Message, Receiver
from relay.pipeline import process
from relay.render import render
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.sinks.server import TestCA
from tests.sinks.slack import CHANNEL, SlackSink

TOKEN_ENV = "SLACK_BOT_TOKEN"
RECEIVER = "ops-slack-bot"
SINK_EPOCH = datetime.fromtimestamp(1_700_000_000, UTC)  # the loopback Slack's first ts: 1700000000.000100
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


@pytest.fixture
def forgetful():
    """A ledger that kept no thread: as if the relay stopped after Slack took a first message, before keeping it."""
    ledger = SqliteLedger(":memory:")
    yield ledger
    ledger.close()


def receiver(**options: str) -> Receiver:
    return Receiver(RECEIVER, "slack", transport="slack-bot", destination_env=TOKEN_ENV,
                    options={"slack_channel": CHANNEL, **options})


def bot(sink: SlackSink, ca: TestCA, ledger: SqliteLedger, timeout: float = 0.5, **options: str) -> SlackBotChannel:
    return from_receiver(receiver(api_url=sink.api_url, **options), environ={TOKEN_ENV: sink.token}, threads=ledger,
                         timeout=timeout, ssl_context=ca.client_context())


def attempt(first_sent: datetime = SINK_EPOCH) -> Attempt:
    return Attempt(uuid.uuid4().hex, first_sent)


def marked(message: Message, at: datetime = SINK_EPOCH) -> Message:
    return replace(message, attempt=attempt(at))


def mark_of(message: Message) -> dict:
    assert message.attempt is not None
    return {"event_type": "relay_delivery", "event_payload": {"delivery": message.attempt.delivery_id}}


@pytest.fixture
def planned():
    return marked(render(f.planned(), receiver()))


@pytest.fixture
def rescheduled():
    return marked(render(f.rescheduled_update(), receiver()))


def lookups(sink: SlackSink) -> list[tuple[str, dict[str, str]]]:
    """The conversations.* calls the sink got, with their arguments."""
    calls = []
    for request in sink.requests:
        method = request.path.removeprefix("/api/")
        if method.startswith("conversations."):
            args = {k: v[-1] for k, v in (request.query | parse_qs(request.body.decode())).items()}
            calls.append((method, args))
    return calls


# --- the mark ---


def test_every_post_carries_its_delivery_id_and_the_update_does_not(sink, ca, ledger, planned, rescheduled):
    channel = bot(sink, ca, ledger)
    assert channel.send(planned).ok and channel.send(rescheduled).ok
    parent, reply = sink.messages
    assert parent["metadata"] == mark_of(planned) and reply["metadata"] == mark_of(rescheduled)
    assert mark_of(planned) != mark_of(rescheduled)
    assert [set(update) & {"metadata"} for update in sink.updates] == [set()]


def test_a_message_without_an_attempt_is_posted_unmarked(sink, ca, ledger, planned):
    assert bot(sink, ca, ledger).send(replace(planned, attempt=None)).ok
    assert "metadata" not in sink.messages[0]


# --- find ---


def test_find_finds_a_first_message_by_its_delivery_id_and_no_other(sink, ca, ledger, forgetful, planned):
    sent = bot(sink, ca, ledger).send(planned)
    channel = bot(sink, ca, forgetful)
    found = channel.find(planned)
    assert found is not None and found.ok and found.reference == sent.reference
    assert channel.find(replace(planned, attempt=attempt())) is None
    [(method, args), _] = lookups(sink)
    assert method == "conversations.history" and args["channel"] == CHANNEL and args["include_all_metadata"] == "1"
    assert args["oldest"] == f"{(SINK_EPOCH - timedelta(minutes=5)).timestamp():.6f}"


def test_find_asks_only_after_the_attempt_began(sink, ca, ledger, forgetful, planned):
    bot(sink, ca, ledger).send(planned)
    channel = bot(sink, ca, forgetful)
    assert planned.attempt is not None
    assert channel.find(planned) is not None
    later = replace(planned.attempt, first_sent=SINK_EPOCH + timedelta(hours=1))
    assert channel.find(replace(planned, attempt=later)) is None


def test_find_finds_a_reply_in_the_thread_and_no_other(sink, ca, ledger, planned, rescheduled):
    channel = bot(sink, ca, ledger)
    channel.send(planned)
    sent = channel.send(rescheduled)
    found = channel.find(rescheduled)
    assert found is not None and found.ok and found.reference == sent.reference != sink.messages[0]["ts"]
    assert channel.find(replace(rescheduled, attempt=attempt())) is None
    assert [(method, args["ts"]) for method, args in lookups(sink)] == [("conversations.replies", sink.messages[0]["ts"])] * 2


def test_find_reads_a_remembered_first_message_from_its_thread(sink, ca, ledger, planned):
    """The first message went out and its thread was kept, but the ledger's mark was not: the thread has it."""
    channel = bot(sink, ca, ledger)
    sent = channel.send(planned)
    found = channel.find(planned)
    assert found is not None and found.reference == sent.reference
    assert [method for method, _ in lookups(sink)] == ["conversations.replies"]


def test_find_keeps_the_thread_of_a_first_message_it_finds(sink, ca, ledger, planned, rescheduled):
    sink.lose_next_answer()
    channel = bot(sink, ca, ledger)
    lost = channel.send(planned)
    assert not lost.ok and ledger.thread_reference(planned.thread_key, RECEIVER) is None
    found = channel.find(planned)
    assert found is not None and found.ok
    assert ledger.thread_reference(planned.thread_key, RECEIVER) == f"{CHANNEL}:{found.reference}"
    assert channel.send(rescheduled).ok  # the next message replies under it: no second first message
    assert [m.get("thread_ts") for m in sink.messages] == [None, found.reference]


def test_a_thread_whose_first_message_is_gone_has_no_reply(sink, ca, ledger, rescheduled):
    ledger.remember_thread(rescheduled.thread_key, RECEIVER, f"{CHANNEL}:1600000000.000100")
    assert bot(sink, ca, ledger).find(rescheduled) is None


# --- the answer lost: unknown, then found ---


@pytest.mark.parametrize("late", [None, 1.0], ids=["dropped", "late"])
@pytest.mark.parametrize("reply", [False, True], ids=["first", "reply"])
def test_an_answer_lost_is_unknown_and_found_so_not_posted_again(sink, ca, ledger, planned, rescheduled, late, reply):
    channel = bot(sink, ca, ledger, timeout=0.3)
    if reply:
        channel.send(planned)
    message = rescheduled if reply else planned
    sink.lose_next_answer(late=late)
    lost = channel.send(message)
    assert (lost.ok, lost.retryable, lost.unknown) == (False, True, True)
    assert sink.messages[-1]["metadata"] == mark_of(message)  # Slack has it
    found = channel.find(message)
    assert found is not None and found.ok and found.reference == sink.messages[-1]["ts"]
    assert len(sink.messages) == (2 if reply else 1)


def test_a_refusal_is_not_unknown_and_find_says_it_is_not_there(sink, ca, ledger, planned):
    sink.fail_next(503, method="chat.postMessage")
    channel = bot(sink, ca, ledger)
    refused = channel.send(planned)
    assert (refused.ok, refused.retryable, refused.unknown) == (False, True, False)
    assert channel.find(planned) is None and sink.messages == []


# --- pages ---


def test_find_follows_the_history_cursor_and_stops_once_found(sink, ca, ledger, forgetful, planned):
    sender = bot(sink, ca, ledger)
    sender.send(planned)
    others = [marked(replace(planned, thread_key=f"other-{i}")) for i in range(5)]
    for other in others:
        sender.send(other)
    sink.page_limit = 2
    channel = bot(sink, ca, forgetful)
    assert channel.find(others[-1]) is not None and len(lookups(sink)) == 1  # the newest of six: the first page
    assert channel.find(replace(planned, attempt=attempt())) is None and len(lookups(sink)) == 4  # every page
    found = channel.find(planned)  # the oldest, on the third page
    assert found is not None and found.reference == sink.messages[0]["ts"]
    pages = lookups(sink)[4:]
    assert len(pages) == 3 and "cursor" not in pages[0][1] and all(args["cursor"] for _, args in pages[1:])
    assert {method for method, _ in lookups(sink)} == {"conversations.history"}


def test_find_follows_the_thread_cursor(sink, ca, ledger, planned, rescheduled):
    channel = bot(sink, ca, ledger)
    channel.send(planned)
    replies = [marked(rescheduled) for _ in range(4)]
    for reply in replies:
        channel.send(reply)
    sink.page_limit = 2
    found = channel.find(replies[-1])  # the thread, oldest first: the first message and four replies
    assert found is not None and found.reference == sink.messages[-1]["ts"]
    assert len(lookups(sink)) == 3


# --- failures ---


def test_a_throttled_lookup_is_retryable_after_its_wait(ca, ledger, planned):
    with SlackSink(tls=ca, lookup_per_second=1) as sink:
        channel = bot(sink, ca, ledger)
        channel.send(planned)
        first, second = channel.find(planned), channel.find(planned)
    assert first is not None and first.ok
    assert second is not None and (second.ok, second.retryable, second.retry_after) == (False, True, 1.0)
    assert "conversations.replies" in second.detail and sink.lookups_throttled == 1 and sink.throttled == 0


@pytest.mark.parametrize("fault, retryable, retry_after", [
    (dict(status=429, retry_after=7, body={"ok": False, "error": "ratelimited"}), True, 7.0),
    (dict(status=200, body={"ok": False, "error": "ratelimited"}), True, None),
    (dict(status=503), True, None),
    (dict(drop=True), True, None),
    (dict(status=200, delay=1.0), True, None),
    (dict(status=200, body={"ok": False, "error": "missing_scope"}), False, None),
])
def test_what_a_lookup_cannot_tell(sink, ca, ledger, planned, fault, retryable, retry_after):
    sink.fail_next(**fault, method="conversations.history")
    result = bot(sink, ca, ledger, timeout=0.3).find(planned)
    assert result is not None and (result.ok, result.retryable, result.retry_after) == (False, retryable, retry_after)
    assert "conversations.history" in result.detail


def test_the_token_shows_nowhere(sink, ca, ledger, planned, rescheduled, caplog):
    caplog.set_level(logging.DEBUG)
    channel = bot(sink, ca, ledger, timeout=0.3)
    results = []
    for message in (planned, rescheduled):  # a first message (history), then a reply (its thread)
        for fault in (dict(status=500, body=f"<p>{sink.token}</p>"), dict(status=404, body=sink.token),
                      dict(status=200, body={"ok": False, "error": sink.token}), dict(drop=True)):
            sink.fail_next(**fault)
            results.append(channel.find(message))
        sink.lose_next_answer()
        results.append(channel.send(message))
        results.append(channel.find(message))
    assert [r is not None and r.ok for r in results] == [False] * 5 + [True] + [False] * 5 + [True]
    assert [method for method, _ in lookups(sink)] == ["conversations.history"] * 5 + ["conversations.replies"] * 5
    said = [r.detail for r in results if r is not None] + [r.getMessage() for r in caplog.records]
    assert not any(sink.token in text for text in said)


# --- setup ---


def test_lookups_have_a_limit_of_their_own_per_token(sink, ledger):
    one = from_receiver(receiver(api_url=sink.api_url), environ={TOKEN_ENV: sink.token}, threads=ledger)
    two = from_receiver(receiver(api_url=sink.api_url, slack_channel="C0000000002"), environ={TOKEN_ENV: sink.token},
                        threads=ledger)
    assert one.lookup_limit.per_second == LOOKUP_PER_SECOND == 50 / 60
    assert one.lookup_limit.key == two.lookup_limit.key == destination_key(f"{sink.token}:lookup")
    assert one.lookup_limit.key not in (one.limit.key, two.limit.key) and sink.token not in one.lookup_limit.key
    slow = from_receiver(receiver(api_url=sink.api_url, lookup_per_second=str(1 / 60)), environ={TOKEN_ENV: sink.token},
                         threads=ledger)
    assert slow.lookup_limit.per_second == 1 / 60


# --- the whole pipeline ---


def test_the_pipeline_posts_each_message_once_though_slack_answers_none(ca, tmp_path, monkeypatch):
    now = datetime(2027, 1, 12, tzinfo=UTC)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))  # the default TLS context trusts the test CA
    with SlackSink(tls=ca, epoch=int(now.timestamp())) as slack:
        config = parse_config({"receivers": [{"name": RECEIVER, "channel": "slack", "token": TOKEN_ENV,
                                              "slack_channel": CHANNEL, "api_url": slack.api_url,
                                              "max_per_second": 50}]})
        paths = Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite", tmp_path / "outbox")
        relay = open_relay(config, paths, now=now, environ={TOKEN_ENV: slack.token})
        relay.sleep = lambda seconds: None
        try:
            results = []
            for alert in ("01-planned.json", "03-rescheduled.json"):
                slack.lose_next_answer()
                results += process((EXAMPLES / "alerts" / alert).read_bytes(), relay).deliveries
            thread = relay.ledger.thread_reference("XY12-3ZQ", RECEIVER)
        finally:
            relay.ledger.close()
    assert all(d.result.ok for d in results), [d.result.detail for d in results]
    parent, reply = slack.messages
    assert thread == f"{CHANNEL}:{parent['ts']}" and reply["thread_ts"] == parent["ts"]
    assert [d.result.reference for d in results] == [parent["ts"], reply["ts"]]
