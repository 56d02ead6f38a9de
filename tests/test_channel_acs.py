"""The ACS channel through the real azure-communication-email client against a loopback ACS Email endpoint."""
from __future__ import annotations

import base64
import logging
import socket
import subprocess
import sys

import pytest

from relay.channels import ChannelUnavailable, channel_for, destination_key
from relay.channels.acs import AcsChannel, acs_message, from_receiver
from relay.model import Receiver
from relay.render import render
from tests import factories as f
from tests.render_fixtures import csv_attachment, email_parts, parse_email
from tests.sinks.acs import AcsSink
from tests.sinks.server import TestCA

SENDER = "DoNotReply@contoso.example"


@pytest.fixture(autouse=True)
def trust(ca, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))  # azure-core's requests transport reads it


@pytest.fixture
def acs(ca):
    with AcsSink(ca) as sink:
        yield sink


def receiver(**options) -> Receiver:
    return Receiver(name="managers", channel="email", transport="acs", destination_env="ACS_CONNECTION_STRING",
                    options={"to": "managers@contoso.example, Oncall 当番 <oncall@contoso.example>",
                             "from": SENDER, **options})


def channel(connection_string: str, wait: float = 5.0) -> AcsChannel:
    built = from_receiver(receiver(), environ={"ACS_CONNECTION_STRING": connection_string})
    built.wait, built.poll_interval = wait, 0.05
    return built


def message(notification=None):
    return render(notification or f.planned(), receiver())


def test_the_japanese_email_arrives_as_acs_json(acs):
    sent = message(f.ten_thousand())
    result = channel(acs.connection_string).send(sent)
    assert result.ok and result.detail == "sent by ACS"
    assert result.reference in acs.operations
    assert [(r.method, r.path.split("/")[1]) for r in acs.server.requests] == [("POST", "emails:send"), ("GET", "emails")]
    assert acs.bad_signatures == 0  # every request was signed with the access key
    [request] = acs.sent
    original = parse_email(sent.body)
    text, html = email_parts(original)
    assert request["senderAddress"] == SENDER
    assert request["recipients"] == {"to": [{"address": "managers@contoso.example"},
                                            {"address": "oncall@contoso.example", "displayName": "Oncall 当番"}]}
    assert request["content"] == {"subject": str(original["Subject"]), "plainText": text, "html": html}
    assert request["content"]["subject"].startswith("【要対応 ")
    [attachment] = request["attachments"]
    [part] = original.iter_attachments()  # 10,000 VMs: the CSV in a ZIP, one of ACS's allowed attachment types
    assert attachment["name"] == "affected-vms-XY12-3ZQ.zip" == part.get_filename()
    assert attachment["contentType"] == "application/zip"
    assert base64.b64decode(attachment["contentInBase64"]) == part.get_payload(decode=True)
    assert csv_attachment(original)[1].count(b"\r\n") == 10_001  # a header and every VM


def test_a_short_email_has_no_attachments(acs):
    assert channel(acs.connection_string).send(message()).ok
    assert "attachments" not in acs.sent[0]


def test_the_channel_waits_for_a_running_operation(acs):
    acs.finish_as("Succeeded", running_polls=3)
    result = channel(acs.connection_string).send(message())
    assert result.ok and result.detail == "sent by ACS"
    assert acs.operations[result.reference].polls == 4


def test_an_operation_still_running_after_the_wait_counts_as_sent(acs):
    acs.finish_as("Succeeded", running_polls=10_000)
    result = channel(acs.connection_string, wait=0.3).send(message())
    assert result.ok  # queued by ACS: sending again could deliver it twice
    assert "still Running" in result.detail and len(acs.sent) == 1


def test_a_failed_status_check_after_queueing_counts_as_sent(acs):
    acs.fail_status_checks(503)
    result = channel(acs.connection_string).send(message())
    assert result.ok and "status unknown" in result.detail and "503" in result.detail


@pytest.mark.parametrize("status", ["Failed", "Canceled"])
def test_a_failed_operation_is_retryable(acs, status):
    acs.finish_as(status, code="EmailDroppedAllRecipientsSuppressed")
    result = channel(acs.connection_string).send(message())
    assert not result.ok and result.retryable
    assert result.detail == f"ACS could not send the email: {status} EmailDroppedAllRecipientsSuppressed"


@pytest.mark.parametrize(("status", "header", "wait"), [(429, 12, 12.0), (503, None, None), (500, None, None)])
def test_throttling_and_server_errors_are_retryable(acs, status, header, wait):
    acs.server.fail_next(status, retry_after=header, body={"error": {"code": "TooManyRequests", "message": "slow down"}})
    result = channel(acs.connection_string).send(message())
    assert not result.ok and result.retryable and result.retry_after == wait
    assert f"HTTP {status} TooManyRequests" in result.detail and "slow down" not in result.detail
    assert acs.sent == []


def test_a_bad_request_is_permanent(acs):
    acs.server.fail_next(400, body={"error": {"code": "InvalidSenderUserName", "message": "x"}})
    result = channel(acs.connection_string).send(message())
    assert not result.ok and not result.retryable and "HTTP 400 InvalidSenderUserName" in result.detail


def test_a_wrong_access_key_is_permanent_and_never_shown(acs, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_key = base64.b64encode(b"w" * 32).decode()
    connection_string = f"endpoint={acs.url}/;accesskey={wrong_key}"
    result = channel(connection_string).send(message())
    assert not result.ok and not result.retryable
    assert result.detail.startswith("ACS refused the email: HTTP 401 Denied")
    assert acs.bad_signatures == 1 and acs.sent == []
    assert channel(acs.connection_string).send(message()).ok
    for text in (result.detail, caplog.text):
        assert wrong_key not in text and acs.access_key not in text and "accesskey=" not in text


def test_an_untrusted_certificate_is_refused(monkeypatch):
    with AcsSink(TestCA()) as stranger:  # a CA nobody trusts
        result = channel(stranger.connection_string).send(message())
        assert stranger.server.requests == []
    assert not result.ok and not result.retryable and "not trusted" in result.detail


def test_an_unreachable_endpoint_is_retryable(acs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"endpoint=https://127.0.0.1:{s.getsockname()[1]}/;accesskey={acs.access_key}"
    result = channel(closed).send(message())
    assert not result.ok and result.retryable and "unreachable" in result.detail
    assert not result.unknown  # refused: the request never left, so nothing needs asking about
    assert acs.access_key not in result.detail


def test_setup_problems_name_the_variable_never_the_secret():
    with pytest.raises(ChannelUnavailable, match="ACS_CONNECTION_STRING is not set"):
        from_receiver(receiver(), environ={})
    key = base64.b64encode(b"k" * 32).decode()
    for bad in (f"endpoint=http://acs.example/;accesskey={key}", "endpoint=https://acs.example/",
                "endpoint=https://acs.example/;accesskey=not base64!", f"accesskey={key}"):
        with pytest.raises(ChannelUnavailable) as raised:
            from_receiver(receiver(), environ={"ACS_CONNECTION_STRING": bad})
        assert "ACS_CONNECTION_STRING" in str(raised.value)
        assert key not in str(raised.value) and "not base64" not in str(raised.value)


def test_channel_for_builds_it_without_touching_the_network(acs, tmp_path):
    environ = {"ACS_CONNECTION_STRING": acs.connection_string}
    built = channel_for(receiver(max_per_second="2"), tmp_path, threads=None, environ=environ)
    assert isinstance(built, AcsChannel)
    assert built.limit.key == destination_key(acs.url) and built.limit.per_second == 2.0
    assert acs.server.requests == []


def test_the_message_is_read_back_from_mime():
    body = render(f.planned(), receiver(to="a@contoso.example")).body
    request = acs_message(body)
    assert request["recipients"] == {"to": [{"address": "a@contoso.example"}]}
    assert request["userEngagementTrackingDisabled"] is True
    assert "vm-web-01" in request["content"]["plainText"] and "vm-web-01" in request["content"]["html"]
    with pytest.raises(ValueError, match="no To"):
        acs_message(b"From: a@contoso.example\r\nSubject: x\r\n\r\nbody\r\n")


def test_importing_the_module_loads_no_sdk():
    code = "import sys, relay.channels.acs; print([m for m in ('azure.communication.email', 'azure.core') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
