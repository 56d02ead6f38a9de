"""Exactly once where the destination can tell: the attempt is kept in the ledger before the send, and after an
unknown outcome the destination is asked before sending again. Each point where a process can die or an answer can
be lost is forced here, on the SQLite ledger and on Table Storage (Azurite), with a destination that keeps what it
accepted. The real channels' marks and lookups are tested against their loopback APIs (tests/test_channel_*.py)."""
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from relay.channels import RateLimit
from relay.model import Message, Receiver, SendResult
from relay.pipeline import Relay, send_once
from tests import factories as f

pytest_plugins = ["tests.azurite"]

NOW = datetime(2027, 1, 12, tzinfo=UTC)
KEY = "xy12-3zq/70000000000000001"
MESSAGE = Message(receiver=Receiver("ops-mail", "email", transport="graph"), notification_key=KEY,
                  thread_key="xy12-3zq", content_type="message/rfc822", body=b"Subject: maintenance\r\n\r\nbody",
                  summary="maintenance")


class Killed(BaseException):
    """The process dies here: nothing after it runs, as with SIGKILL."""


class Mailbox:
    """A destination that keeps what it accepted, by the mark on it, and can be told to fail at one point."""

    def __init__(self, die: str | None = None, lose_answer: bool = False):
        self.kept: dict[str, bytes] = {}
        self.die, self.lose_answer = die, lose_answer
        self.sends = self.finds = 0
        self.limit = RateLimit("mailbox", 1000.0)
        self.lookup_limit = RateLimit("mailbox:lookup", 1000.0)

    def send(self, message: Message) -> SendResult:
        self.sends += 1
        if self.die == "before the send":
            self.die = None
            raise Killed
        self.kept[message.attempt.delivery_id] = message.body
        if self.die == "after acceptance, before the answer":
            self.die = None
            raise Killed
        if self.lose_answer:
            self.lose_answer = False
            return SendResult.failed("no answer in time (timeout)", retryable=True, unknown=True)
        return SendResult.delivered("accepted", reference=message.attempt.delivery_id)

    def find(self, message: Message) -> SendResult | None:
        self.finds += 1
        if message.attempt.delivery_id in self.kept:
            return SendResult.delivered("found: sent by an earlier try", reference=message.attempt.delivery_id)
        return None


class Webhook:
    """A destination that cannot be asked."""

    limit = None

    def __init__(self):
        self.sends = 0

    def send(self, message: Message) -> SendResult:
        self.sends += 1
        return SendResult.delivered("posted")


def deliver(relay: Relay, destination) -> SendResult:
    """What the pipeline does once a delivery is claimed and rendered: send, then mark."""
    result, attempts = send_once(destination, MESSAGE, relay)
    relay.ledger.record_delivery(KEY, MESSAGE.receiver.name, result, attempts)
    return result


@pytest.mark.parametrize("point", ["before the send", "after acceptance, before the answer"])
def test_a_process_killed_around_the_send_leaves_one_message(open_ledger, point):
    mailbox = Mailbox(die=point)
    with pytest.raises(Killed):
        deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)  # the restarted process
    assert result.ok
    assert len(mailbox.kept) == 1 and mailbox.finds == 1
    assert mailbox.sends == (2 if point == "before the send" else 1)
    ledger = open_ledger()
    assert ledger.delivered(KEY, "ops-mail") and ledger.open_attempt(KEY, "ops-mail") is None


def test_a_process_killed_after_the_answer_before_the_mark_sends_nothing_again(open_ledger):
    mailbox = Mailbox()
    result, _ = send_once(mailbox, MESSAGE, f.sending_relay(open_ledger(), mailbox, NOW))
    assert result.ok  # ... and the process dies before record_delivery
    again = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert again.ok and "found" in again.detail
    assert (mailbox.sends, mailbox.finds, len(mailbox.kept)) == (1, 1, 1)


def test_an_answer_lost_on_the_line_is_asked_about_before_a_retry(open_ledger):
    mailbox = Mailbox(lose_answer=True)
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert result.ok and "found" in result.detail
    assert (mailbox.sends, mailbox.finds, len(mailbox.kept)) == (1, 1, 1)


def test_a_destination_that_cannot_tell_yet_keeps_the_attempt_for_the_next_try(open_ledger):
    mailbox = Mailbox(lose_answer=True)
    mailbox.find = lambda message: SendResult.failed("Sent Items may not show it yet", retryable=True,
                                                     retry_after=90.0)
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert not result.ok and result.retryable and result.unknown
    assert open_ledger().open_attempt(KEY, "ops-mail") is not None  # asked again on the alert's next try
    assert mailbox.sends == 1


def test_a_destination_that_cannot_tell_at_first_is_asked_again_not_sent_to_again(open_ledger):
    mailbox = Mailbox(lose_answer=True)
    find, answers = mailbox.find, [SendResult.failed("lookup: HTTP 503", retryable=True)]
    mailbox.find = lambda message: answers.pop() if answers else find(message)
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert result.ok and "found" in result.detail
    assert (mailbox.sends, len(mailbox.kept)) == (1, 1)


def test_a_channel_that_raises_after_the_destination_took_the_message_is_asked_before_a_retry(open_ledger):
    mailbox = Mailbox()
    send = mailbox.send

    def raising(message):
        send(message)
        raise ValueError("an answer the client could not read")

    mailbox.send = raising
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert result.ok and "found" in result.detail
    assert len(mailbox.kept) == 1


def test_after_a_crash_a_destination_that_cannot_tell_at_first_is_asked_again_not_sent_to(open_ledger):
    mailbox = Mailbox(die="after acceptance, before the answer")
    with pytest.raises(Killed):
        deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    find, answers = mailbox.find, [SendResult.failed("lookup: connection dropped", retryable=True)]
    mailbox.find = lambda message: answers.pop() if answers else find(message)
    result = deliver(f.sending_relay(open_ledger(), mailbox, NOW), mailbox)
    assert result.ok and "found" in result.detail
    assert (mailbox.sends, len(mailbox.kept)) == (1, 1)


def test_a_destination_that_cannot_tell_yet_about_one_message_is_not_held_off_for_the_others(open_ledger):
    mailbox = Mailbox(lose_answer=True)
    find = mailbox.find
    mailbox.find = lambda message: SendResult.failed("not in Sent Items yet", retryable=True, retry_after=300.0)
    relay = f.sending_relay(open_ledger(), mailbox, NOW)
    assert not deliver(relay, mailbox).ok
    mailbox.find = find
    other = replace(MESSAGE, notification_key="xy12-3zq/70000000000000002")
    result, _ = send_once(mailbox, other, relay)
    assert result.ok and result.detail == "accepted"


def test_a_destination_that_cannot_be_asked_is_sent_to_without_an_attempt_kept(open_ledger):
    webhook = Webhook()
    assert deliver(f.sending_relay(open_ledger(), webhook, NOW), webhook).ok
    assert webhook.sends == 1 and open_ledger().open_attempt(KEY, "ops-mail") is None
