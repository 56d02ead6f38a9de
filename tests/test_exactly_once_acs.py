"""ACS Email as a destination that can tell what it already has (relay.channels.Checkable), through the real
azure-communication-email client against a loopback ACS over HTTPS that keeps to the documented repeatable requests:
a send of an attempt carries the attempt's GUID as its Operation-Id and Repeatability-Request-Id, and its start as
Repeatability-First-Sent; a repeat in the window is answered as the original was, not executed again; after an
unknown outcome `find` asks for the operation by the kept id. `len(acs.sent)` counts the emails ACS took."""
from __future__ import annotations

import base64
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from relay.channels import destination_key
from relay.channels.acs import LOOKUPS_PER_SECOND, AcsChannel, acs_message, from_receiver
from relay.model import Attempt, Message, Receiver
from relay.pipeline import send_once
from relay.render import render
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.sinks.acs import AcsSink

ENV = "ACS_CONNECTION_STRING"
RECEIVER = "managers"


@pytest.fixture(autouse=True)
def trust(ca, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))  # azure-core's requests transport reads it


@pytest.fixture
def acs(ca):
    with AcsSink(ca) as sink:
        yield sink


@pytest.fixture
def ledger(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    yield ledger
    ledger.close()


def receiver(**options: str) -> Receiver:
    return Receiver(name=RECEIVER, channel="email", transport="acs", destination_env=ENV,
                    options={"to": "managers@contoso.example", "from": "DoNotReply@contoso.example", **options})


def channel(connection_string: str, **options: str) -> AcsChannel:
    built = from_receiver(receiver(**options), environ={ENV: connection_string})
    built.wait, built.poll_interval = 5.0, 0.05
    return built


def marked(at: datetime | None = None) -> Message:
    """A rendered email with an attempt begun `at` (now)."""
    return replace(render(f.planned(), receiver()), attempt=Attempt.begin(at or datetime.now(UTC)))


def posts(acs: AcsSink) -> list:
    return [r for r in acs.requests if r.method == "POST"]


def later(minutes: float):
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)


def test_a_send_of_an_attempt_carries_our_ids_and_nothing_else_does(acs):
    message = marked(datetime(2027, 1, 12, 3, 4, 5, 678_901, tzinfo=UTC))
    acs.clock = lambda: datetime(2027, 1, 12, 3, 5, tzinfo=UTC)
    result = channel(acs.connection_string).send(message)
    assert result.ok and result.reference == message.attempt.uuid
    [post] = posts(acs)
    assert post.headers["operation-id"] == message.attempt.uuid
    assert post.headers["repeatability-request-id"] == message.attempt.uuid
    assert post.headers["repeatability-first-sent"] == "Tue, 12 Jan 2027 03:04:05 GMT"
    assert list(acs.operations) == [message.attempt.uuid]
    assert all("repeatability" not in name and name != "operation-id"
               for r in acs.requests if r.method == "GET" for name in r.headers)  # the status polls carry none
    unmarked = replace(message, attempt=None)
    assert channel(acs.connection_string).send(unmarked).ok
    assert not {"operation-id", "repeatability-request-id", "repeatability-first-sent"} & set(posts(acs)[1].headers)


def test_an_answer_lost_after_acceptance_is_unknown_and_its_repeat_is_answered_not_sent_again(acs):
    message, sender = marked(), channel(acs.connection_string)
    acs.lose_next_answer()
    lost = sender.send(message)
    assert not lost.ok and lost.retryable and lost.unknown
    assert "unreachable" in lost.detail and len(acs.sent) == 1  # ACS took it all the same
    again = sender.send(message)  # the pipeline's retry of the same attempt: the same headers
    assert again.ok and again.detail == "sent by ACS" and again.reference == message.attempt.uuid
    assert len(acs.sent) == 1 and len(acs.repeats) == 1 and len(posts(acs)) == 2


def test_a_repeat_while_the_original_is_in_progress_counts_as_delivered(acs):
    message, sender = marked(), channel(acs.connection_string)
    gate = threading.Event()
    held = acs.hold_next_send(gate)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(sender.send, message)
        assert held.wait(10)
        repeat = sender.send(message)
        gate.set()
        original = first.result(timeout=20)
    assert repeat.ok and repeat.detail == "accepted by an earlier try; still running"
    assert repeat.reference == message.attempt.uuid
    assert original.ok and len(acs.sent) == 1 and len(acs.repeats) == 1


def test_a_repeat_past_the_window_is_refused_and_left_to_find(acs):
    message, sender = marked(), channel(acs.connection_string)
    acs.lose_next_answer()
    assert sender.send(message).unknown
    acs.clock = later(6)
    refused = sender.send(message)
    assert not refused.ok and refused.retryable and refused.unknown
    assert "repeat window has passed (HTTP 412" in refused.detail
    assert len(acs.sent) == 1 and acs.repeats == []
    found = sender.find(message)
    assert found.ok and found.detail == "found at ACS: Succeeded" and found.reference == message.attempt.uuid
    assert len(acs.sent) == 1


@pytest.mark.parametrize("minutes", [0, 6], ids=["in the repeat window", "past it"])
def test_find_finds_an_accepted_email_by_its_operation_id(acs, minutes):
    message, sender = marked(), channel(acs.connection_string)
    acs.lose_next_answer()
    assert sender.send(message).unknown
    acs.clock = later(minutes)
    found = sender.find(message)
    assert found.ok and found.reference == message.attempt.uuid
    [lookup] = [r for r in acs.requests if r.method == "GET"]
    assert lookup.path == f"/emails/operations/{message.attempt.uuid}"
    assert lookup.query == {"api-version": ["2025-09-01"]}
    assert acs.bad_signatures == 0


def test_find_of_a_running_operation_says_delivered(acs):
    acs.finish_as("Succeeded", running_polls=10_000)
    message, sender = marked(), channel(acs.connection_string)
    acs.lose_next_answer()
    assert sender.send(message).unknown
    found = sender.find(message)
    assert found.ok and found.detail == "found at ACS: Running"


def test_an_email_acs_never_took_is_not_found_and_a_new_attempt_sends_it_once(acs):
    message, sender = marked(), channel(acs.connection_string)
    acs.server.fail_next(drop=True)  # the line drops before ACS takes it
    lost = sender.send(message)
    assert not lost.ok and lost.unknown and acs.sent == []
    acs.clock = later(6)
    assert sender.find(message) is None
    fresh = replace(message, attempt=Attempt.begin(datetime.now(UTC) + timedelta(minutes=6)))
    sent = sender.send(fresh)
    assert sent.ok and sent.reference == fresh.attempt.uuid != message.attempt.uuid
    assert len(acs.sent) == 1 and list(acs.operations) == [fresh.attempt.uuid]


def test_an_operation_acs_failed_is_not_found_so_a_new_attempt_sends_it(acs, caplog):
    acs.finish_as("Failed", code="EmailDroppedAllRecipientsSuppressed")
    message, sender = marked(), channel(acs.connection_string)
    acs.lose_next_answer()
    assert sender.send(message).unknown
    assert sender.find(message) is None  # ACS took it and sent nothing
    assert "ended Failed at ACS EmailDroppedAllRecipientsSuppressed" in caplog.text
    acs.finish_as("Succeeded")
    assert sender.send(replace(message, attempt=Attempt.begin(datetime.now(UTC)))).ok
    assert [acs.operations[op].final["status"] for op in acs.operations] == ["Failed", "Succeeded"]


@pytest.mark.parametrize(("status", "header", "retryable", "wait"), [
    (429, 7, True, 7.0), (503, None, True, None), (500, 2, True, 2.0), (403, None, False, None)])
def test_what_a_lookup_cannot_tell(acs, status, header, retryable, wait):
    message, sender = marked(), channel(acs.connection_string)
    assert sender.send(message).ok
    acs.fail_status_checks(status, retry_after=header)
    result = sender.find(message)
    assert not result.ok and result.retryable is retryable and result.retry_after == wait
    assert result.detail.startswith(f"ACS status lookup: HTTP {status}")


def test_an_unreachable_lookup_is_retryable(acs):
    message, sender = marked(), channel(acs.connection_string)
    acs.server.fail_next(drop=True)
    result = sender.find(message)
    assert not result.ok and result.retryable and "ACS status lookup: unreachable" in result.detail


def test_find_needs_the_attempt(acs):
    with pytest.raises(ValueError, match="attempt"):
        channel(acs.connection_string).find(replace(marked(), attempt=None))


@pytest.mark.parametrize("answer", ["lost", "kept but not marked"])
def test_a_relay_that_stops_after_acs_took_the_email_does_not_send_it_again(acs, ledger, answer):
    """The relay stops between the send and the ledger's mark, and restarts within ACS's repeat window: the
    restarted pipeline asks ACS first, finds the operation, and sends nothing."""
    sender = channel(acs.connection_string)
    message = render(f.planned(), receiver())
    attempt = Attempt.begin(datetime.now(UTC))
    ledger.begin_attempt(message.notification_key, RECEIVER, attempt)  # what send_once keeps before the send
    if answer == "lost":
        acs.lose_next_answer()
    sender.send(replace(message, attempt=attempt))  # ... and the process dies here
    restarted = f.sending_relay(ledger, sender)
    result, attempts = send_once(sender, message, restarted)
    assert result.ok and result.detail == "found at ACS: Succeeded" and attempts == 0
    assert len(acs.sent) == 1 and len(posts(acs)) == 1


def test_the_pipeline_asks_after_a_lost_answer_instead_of_sending_again(acs, ledger):
    sender = channel(acs.connection_string)
    message = render(f.planned(), receiver())
    relay = f.sending_relay(ledger, sender)
    acs.lose_next_answer()
    result, attempts = send_once(sender, message, relay)
    assert result.ok and result.detail == "found at ACS: Succeeded" and attempts == 1
    assert len(acs.sent) == 1 and len(posts(acs)) == 1


def test_a_relay_that_stops_before_acs_took_the_email_sends_it_once_on_restart(acs, ledger):
    sender = channel(acs.connection_string)
    message = render(f.planned(), receiver())
    earlier = Attempt.begin(datetime.now(UTC))
    ledger.begin_attempt(message.notification_key, RECEIVER, earlier)  # ... and the process dies before the send
    restarted = f.sending_relay(ledger, sender)
    result, attempts = send_once(sender, message, restarted)
    assert result.ok and result.detail == "sent by ACS" and attempts == 1
    assert len(acs.sent) == 1 and result.reference != earlier.uuid


def test_no_access_key_in_any_detail_or_log(acs, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_key = base64.b64encode(b"w" * 32).decode()
    sender, stranger = channel(acs.connection_string), channel(f"endpoint={acs.url}/;accesskey={wrong_key}")
    message = marked()
    acs.lose_next_answer()
    details = [sender.send(message).detail]
    acs.clock = later(6)
    details += [sender.send(message).detail, sender.find(message).detail]
    acs.fail_status_checks(429, retry_after=3)
    details += [sender.find(message).detail, stranger.find(message).detail, stranger.send(marked()).detail]
    assert "HTTP 401 Denied" in details[-2]
    for text in (*details, caplog.text):
        assert acs.access_key not in text and wrong_key not in text and "accesskey=" not in text


def test_lookups_have_a_limit_of_their_own():
    key = base64.b64encode(b"k" * 32).decode()
    connection_string = f"endpoint=https://acs.example.communication.azure.com/;accesskey={key}"
    built = from_receiver(receiver(), environ={ENV: connection_string})
    assert built.lookup_limit.key == destination_key("https://acs.example.communication.azure.com:lookup")
    assert built.lookup_limit.key != built.limit.key and built.lookup_limit.per_second == LOOKUPS_PER_SECOND
    slower = from_receiver(receiver(lookup_per_second="0.1"), environ={ENV: connection_string})
    assert slower.lookup_limit.per_second == 0.1 and slower.limit == built.limit


# The loopback ACS itself, held to the table of learn.microsoft.com/en-us/rest/api/communication/repeatable-requests


def _raw_send(sender: AcsChannel, body: dict, headers: dict[str, str], operation_id: str | None = None):
    """A send with headers of the test's choosing; the HTTP status ACS answered."""
    try:
        sender.client().begin_send(body, headers=headers, operation_id=operation_id, polling=False)
    except HttpResponseError as e:
        return e.status_code
    return 202


def _headers(request_id: str, first_sent: datetime) -> dict[str, str]:
    return {"Repeatability-Request-Id": request_id,
            "Repeatability-First-Sent": first_sent.strftime("%a, %d %b %Y %H:%M:%S GMT")}


@pytest.mark.parametrize(("request_id", "first_sent"), [
    ("not-a-guid", "now"), ("guid", "2027-01-12T03:04:05Z"), ("nope", "yesterday"), ("guid", None), (None, "now")])
def test_the_sink_refuses_malformed_repeatability_headers(acs, request_id, first_sent):
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    headers = {"Repeatability-Request-Id": str(uuid.uuid4()) if request_id == "guid" else request_id,
               "Repeatability-First-Sent": now if first_sent == "now" else first_sent}
    body = acs_message(render(f.planned(), receiver()).body)
    assert _raw_send(channel(acs.connection_string), body, {k: v for k, v in headers.items() if v}) == 400
    assert acs.sent == []


def test_the_sink_keeps_to_the_repeatability_table(acs):
    sender, body = channel(acs.connection_string), acs_message(render(f.planned(), receiver()).body)
    request_id, now = str(uuid.uuid4()), datetime.now(UTC)
    assert _raw_send(sender, body, _headers(request_id, now - timedelta(minutes=6))) == 412
    assert _raw_send(sender, body, _headers(request_id, now)) == 202  # a new request
    assert _raw_send(sender, body, _headers(request_id, now)) == 202  # its repeat: answered, not executed
    assert len(acs.sent) == 1 and len(acs.repeats) == 1
    other = {**body, "content": {"subject": "another"}}
    assert _raw_send(sender, other, _headers(request_id, now)) == 400  # the same id, another request
    assert _raw_send(sender, body, _headers(request_id, now), operation_id=str(uuid.uuid4())) == 400
    missing = {k: v for k, v in body.items() if k != "senderAddress"}
    refused_id = str(uuid.uuid4())
    assert _raw_send(sender, missing, _headers(refused_id, now)) == 400
    assert _raw_send(sender, missing, _headers(refused_id, now)) == 400  # a 4xx original: its answer again
    acs.repeat_window_seconds = 0
    assert _raw_send(sender, body, _headers(request_id, now)) == 412
    assert len(acs.sent) == 1
