"""Exactly once through Graph: each send of an attempt is marked, and the sender's Sent Items are asked for the
mark before sending again, through the real msal against a loopback Graph + Entra ID (tests/sinks/graph.py)."""
from __future__ import annotations

import logging
import socket
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from relay.channels import destination_key
from relay.channels.graph import LOOKUPS_PER_SECOND, MARK_PROPERTY, SETTLE_SECONDS, GraphChannel, from_receiver, marked
from relay.model import Attempt, Message, Receiver
from relay.render import render
from tests import factories as f
from tests.sinks.graph import GraphSink

SECRET = "Zq8~client.secret-value_42"
SENDER = "relay@contoso.example"
LONG_AGO = timedelta(hours=1)  # an attempt past the settle time


@pytest.fixture(autouse=True)
def environment(ca, monkeypatch):
    """msal (requests) and the channel's own calls (ssl's default context) trust the test CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))


@pytest.fixture
def graph(ca):
    with GraphSink(ca, client_secret=SECRET) as sink:
        yield sink


def receiver(sink: GraphSink, **options) -> Receiver:
    return Receiver(name="managers", channel="email", transport="graph", options={
        "sender": SENDER, "to": "managers@contoso.example", "from": SENDER,
        "graph_url": sink.url, "authority": sink.url, **options})


def channel(sink: GraphSink, **options) -> GraphChannel:
    return from_receiver(receiver(sink, **options), environ=sink.environ())


def attempted(sink: GraphSink, age: timedelta = timedelta(), notification=None) -> Message:
    """A rendered email with an attempt that began `age` ago."""
    attempt = Attempt(uuid.uuid4().hex, datetime.now(UTC) - age)
    return replace(render(notification or f.planned(), receiver(sink)), attempt=attempt)


# ---------------------------------------------------------------------------------------------------
# The mark.

def test_the_mark_is_one_header_more_and_every_other_byte_stays():
    for newline in (b"\r\n", b"\n"):
        original = newline.join([b"Subject: =?utf-8?b?5pel?=", b"X-Other: 1", b"Content-Type: text/plain", b"",
                                 b"body", b"X-Relay-Delivery: in the body, untouched", b""])
        once = marked(original, "a" * 32)
        head, _, body = once.partition(newline * 2)
        assert head.split(newline) == [*original.split(newline)[:3], b"X-Relay-Delivery: " + b"a" * 32]
        assert body == original.partition(newline * 2)[2]
        # An earlier mark, folded over two lines and in another case, is replaced, never repeated.
        earlier = b"x-relay-delivery:" + newline + b" " + b"b" * 32 + newline
        folded = original.replace(b"X-Other: 1", earlier + b"X-Other: 1")
        assert marked(folded, "a" * 32) == once
        assert marked(once, "c" * 32) == marked(original, "c" * 32)


def test_a_send_of_an_attempt_carries_its_mark(graph):
    sent = attempted(graph)
    assert channel(graph).send(sent).ok
    [mail] = graph.mails
    assert mail.mime == marked(sent.body, sent.attempt.delivery_id)
    assert mail.parsed()["X-Relay-Delivery"] == sent.attempt.delivery_id
    unmarked = replace(sent, attempt=None)
    assert channel(graph).send(unmarked).ok and graph.mails[1].mime == unmarked.body


# ---------------------------------------------------------------------------------------------------
# Finding it.

def test_find_finds_its_own_message_and_not_another(graph):
    graph_channel = channel(graph)
    first, second = attempted(graph), attempted(graph, notification=f.canceled())
    assert graph_channel.send(first).ok and graph_channel.send(second).ok
    found = graph_channel.find(first)
    assert found.ok and found.detail == "found in the sender's Sent Items: sent by an earlier try"
    assert [graph_channel.find(first).reference, graph_channel.find(second).reference] == [
        mail.parsed()["Message-ID"] for mail in graph.mails]
    assert graph.mails[0].parsed()["Message-ID"] != graph.mails[1].parsed()["Message-ID"]
    assert graph_channel.find(attempted(graph, LONG_AGO)) is None  # never sent, long ago: safe to send
    lookup = [r for r in graph.requests if r.path.endswith("/messages")][0]
    assert lookup.path == f"/v1.0/users/{SENDER}/mailFolders/SentItems/messages"
    assert lookup.query == {
        "$filter": [f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARK_PROPERTY}'"
                    f" and ep/value eq '{first.attempt.delivery_id}')"],
        "$select": ["id,internetMessageId,sentDateTime"], "$top": ["1"]}
    assert lookup.headers["authorization"] == f"Bearer {graph.issued[0]}"
    assert len(graph.token_requests) == 1  # sends and lookups share the token


def test_a_message_in_another_mailbox_is_not_found(ca):
    other = "other@contoso.example"
    with GraphSink(ca, client_secret=SECRET, mailboxes=(SENDER, other)) as sink:
        sent = attempted(sink, LONG_AGO)
        assert channel(sink, sender=other).send(sent).ok
        assert channel(sink).find(sent) is None
        assert channel(sink, sender=other).find(sent).ok


def test_not_found_is_no_answer_until_the_settle_time(graph):
    young = attempted(graph, timedelta(seconds=60))
    result = channel(graph).find(young)
    assert not result.ok and result.retryable
    assert SETTLE_SECONDS - 65 <= result.retry_after <= SETTLE_SECONDS - 60
    assert result.detail.startswith("not in the sender's Sent Items yet")
    old = replace(young.attempt, first_sent=datetime.now(UTC) - LONG_AGO)
    assert channel(graph).find(replace(young, attempt=old)) is None


def test_a_copy_that_shows_late_is_found_once_it_shows(graph):
    graph.sent_items_delay = 2.0
    sent = attempted(graph)
    graph_channel = channel(graph)
    assert graph_channel.send(sent).ok
    early = graph_channel.find(sent)
    assert not early.ok and early.retryable and early.retry_after > SETTLE_SECONDS - 5
    time.sleep(max(0.0, graph.mails[0].visible_at - time.monotonic()) + 0.05)
    assert graph_channel.find(sent).ok


def test_an_accepted_send_whose_answer_is_lost_is_unknown_and_then_found(graph):
    graph.accept_then_drop()
    sent = attempted(graph)
    graph_channel = channel(graph)
    result = graph_channel.send(sent)
    assert not result.ok and result.retryable and result.unknown
    assert "connection dropped" in result.detail
    assert len(graph.mails) == 1
    assert graph_channel.find(sent).ok


@pytest.mark.parametrize(("status", "unknown"), [(504, True), (502, True), (503, False), (500, False), (429, False)])
def test_a_gateway_without_an_answer_leaves_the_outcome_unknown(graph, status, unknown):
    graph.fail_mail(status)
    result = channel(graph).send(attempted(graph))
    assert not result.ok and result.retryable and result.unknown is unknown


def test_a_send_that_times_out_is_unknown_and_a_refused_one_is_not(graph):
    slow = channel(graph)
    slow.tokens.token()  # Entra ID answers in time; sendMail does not
    graph.server.fail_next(202, delay=1.0)
    slow.timeout = 0.3
    result = slow.send(attempted(graph))
    assert not result.ok and result.unknown and "timeout" in result.detail
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{s.getsockname()[1]}"
    refused = channel(graph, graph_url=closed).send(attempted(graph))
    assert not refused.ok and refused.retryable and not refused.unknown


# ---------------------------------------------------------------------------------------------------
# When the lookup cannot answer.

@pytest.mark.parametrize(("status", "header", "wait"), [(429, "9", 9.0), (503, "4", 4.0), (504, None, None)])
def test_a_throttled_lookup_is_retryable_with_its_wait(graph, status, header, wait):
    graph.fail_lookup(status, retry_after=header)
    result = channel(graph).find(attempted(graph, LONG_AGO))
    assert not result.ok and result.retryable and result.retry_after == wait
    assert result.detail.startswith(f"Graph Sent Items lookup: ErrorTest: HTTP {status}")


def test_a_retry_after_date_on_a_lookup(graph):
    graph.fail_lookup(503, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))
    result = channel(graph).find(attempted(graph, LONG_AGO))
    assert result.retryable and 25 <= result.retry_after <= 30


def test_a_lookup_without_mail_read_is_final_and_explained(ca):
    with GraphSink(ca, client_secret=SECRET, mail_read=False) as sink:
        graph_channel = channel(sink)
        sent = attempted(sink)
        assert graph_channel.send(sent).ok  # Mail.Send alone sends, but cannot tell what was sent
        result = graph_channel.find(sent)
    assert not result.ok and not result.retryable
    assert result.detail.startswith("Graph Sent Items lookup: ErrorAccessDenied: HTTP 403 Forbidden")
    assert "needs the application permission Mail.Read with admin consent" in result.detail


@pytest.mark.parametrize(("status", "code", "says"), [(401, "InvalidAuthenticationToken", "refused the token"),
                                                      (404, "ErrorInvalidUser", "does not know the sender"),
                                                      (400, "ErrorInvalidUrlQueryFilter", "HTTP 400")])
def test_other_lookup_refusals_are_final(graph, status, code, says):
    graph.fail_lookup(status, body={"error": {"code": code, "message": "the request echoed back"}})
    result = channel(graph).find(attempted(graph, LONG_AGO))
    assert not result.ok and not result.retryable and result.retry_after is None
    assert f"{code}: HTTP {status}" in result.detail and says in result.detail and "echoed" not in result.detail


def test_a_redirected_lookup_is_not_followed(ca, graph):
    with GraphSink(ca, client_secret=SECRET) as elsewhere:
        graph.fail_lookup(307, location=f"{elsewhere.url}/v1.0/users/{SENDER}/mailFolders/SentItems/messages")
        result = channel(graph).find(attempted(graph, LONG_AGO))
        assert elsewhere.requests == []  # the bearer token stays with Graph
    assert not result.ok and not result.retryable and "HTTP 307" in result.detail


def test_a_lookup_answer_that_is_no_message_list_is_retried(graph):
    graph.fail_lookup(200, body={"error": "not a list"})
    result = channel(graph).find(attempted(graph, LONG_AGO))
    assert not result.ok and result.retryable and "not a list of messages" in result.detail


def test_a_refused_token_stops_the_lookup(graph):
    graph.refuse_tokens()
    result = channel(graph).find(attempted(graph, LONG_AGO))
    assert not result.ok and not result.retryable and "invalid_client" in result.detail
    assert [r for r in graph.requests if r.path.endswith("/messages")] == []


def test_no_secret_or_token_in_any_lookup_detail_or_log(graph, caplog):
    caplog.set_level(logging.DEBUG)
    graph_channel = channel(graph)
    sent = attempted(graph, LONG_AGO)
    results = [graph_channel.send(sent), graph_channel.find(sent), graph_channel.find(attempted(graph))]
    for status in (429, 403, 401):
        graph.fail_lookup(status, retry_after="1", body={"error": {"code": graph.issued[0], "message": graph.issued[0]}})
        results.append(graph_channel.find(sent))
    graph.accept_then_drop()
    results.append(graph_channel.send(attempted(graph)))
    assert [r.ok for r in results] == [True, True, False, False, False, False, False]
    texts = [caplog.text] + [r.detail for r in results] + [str(r.reference) for r in results]
    for secret in [SECRET, *graph.issued]:
        assert all(secret not in text for text in texts)


# ---------------------------------------------------------------------------------------------------
# Pacing.

def test_lookups_are_paced_apart_from_sends(graph):
    built = channel(graph)
    assert built.lookup_limit.key == destination_key(f"{SENDER}:lookup") != built.limit.key
    assert built.lookup_limit.per_second == LOOKUPS_PER_SECOND
    assert 10_000 / 600 - built.limit.per_second - LOOKUPS_PER_SECOND > 0  # both fit in the mailbox's budget
    assert channel(graph, lookup_per_second="0.5").lookup_limit.per_second == 0.5
    assert graph.server.requests == []  # nothing is fetched before the first send or lookup

