"""The real Slack bot, Graph and ACS channels on the Table Storage ledger (Azurite), each unknown outcome forced:
the process dies before the send, after the destination took the message but before its answer, and after the
answer but before the mark. The restarted relay sends each message exactly once. (tests/test_send_once.py forces
the same on both ledgers with a destination of the test's own; tests/test_exactly_once_*.py test each channel's
mark and lookup in depth.)"""
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from relay.channels import acs, graph, slack
from relay.model import Attempt, Receiver
from relay.pipeline import send_once
from relay.render import render
from relay.store.tables import TableLedger
from tests import factories as f
from tests.sinks.acs import AcsSink
from tests.sinks.graph import GraphSink
from tests.sinks.slack import CHANNEL, SlackSink

pytest_plugins = ["tests.azurite"]

MAILBOX = "relay@contoso.example"
POINTS = ("before the send", "after acceptance, before the answer", "after the answer, before the mark")


class Slack:
    def __init__(self, ca, ledger):
        self.sink = SlackSink(tls=ca, epoch=None)
        self.receiver = Receiver("ops-slack", "slack", transport="slack-bot", destination_env="TOKEN",
                                 options={"slack_channel": CHANNEL, "api_url": self.sink.api_url})
        self.channel = slack.from_receiver(self.receiver, environ={"TOKEN": self.sink.token}, threads=ledger,
                                           ssl_context=ca.client_context())

    def lose_next_answer(self):
        self.sink.lose_next_answer()

    def held(self) -> int:
        return len(self.sink.messages)


class Graph:
    def __init__(self, ca, ledger):
        self.sink = GraphSink(ca, client_secret="secret-for-the-test", mailboxes=(MAILBOX,))
        self.receiver = Receiver("managers", "email", transport="graph", options={
            "sender": MAILBOX, "from": MAILBOX, "to": "managers@contoso.example", "graph_url": self.sink.url,
            "authority": self.sink.url})
        self.channel = graph.from_receiver(self.receiver, environ=self.sink.environ())

    def lose_next_answer(self):
        self.sink.accept_then_drop()

    def held(self) -> int:
        return len(self.sink.mails)


class Acs:
    def __init__(self, ca, ledger):
        self.sink = AcsSink(ca)
        self.sink.poll_after_ms = 50
        self.receiver = Receiver("managers", "email", transport="acs", destination_env="ACS", options={
            "from": "DoNotReply@contoso.example", "to": "managers@contoso.example"})
        self.channel = acs.from_receiver(self.receiver, environ={"ACS": self.sink.connection_string})

    def lose_next_answer(self):
        self.sink.lose_next_answer()

    def held(self) -> int:
        return len(self.sink.sent)


@pytest.fixture
def ledger(azurite):
    ledger = TableLedger.from_connection_string(azurite, f"once{uuid.uuid4().hex[:16]}")
    yield ledger
    ledger.close()


@pytest.fixture(autouse=True)
def trust(ca, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))


@pytest.mark.integration
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind", [Slack, Graph, Acs], ids=["slack-bot", "graph", "acs"])
def test_a_relay_restarted_after_an_unknown_outcome_sends_the_message_once(kind, point, ca, ledger):
    destination = kind(ca, ledger)
    with destination.sink:
        message = render(f.planned(), destination.receiver)
        # Graph's Sent Items cannot say "not there" within 300 s of a send: the one never sent began earlier
        age = timedelta(seconds=301) if point == "before the send" else timedelta()
        attempt = Attempt(uuid.uuid4().hex, datetime.now(UTC) - age)
        ledger.claim(message.notification_key, destination.receiver.name, "dead:1", 60)
        ledger.begin_attempt(message.notification_key, destination.receiver.name, attempt)
        if point != "before the send":
            if point == "after acceptance, before the answer":
                destination.lose_next_answer()
            destination.channel.send(replace(message, attempt=attempt))  # ... and the process dies here
        assert destination.held() == (0 if point == "before the send" else 1)
        result, _ = send_once(destination.channel, message, f.sending_relay(ledger, destination.channel))
        ledger.record_delivery(message.notification_key, destination.receiver.name, result, 1)
        assert result.ok, result.detail
        assert destination.held() == 1
        assert ledger.delivered(message.notification_key, destination.receiver.name)
        assert ledger.open_attempt(message.notification_key, destination.receiver.name) is None
