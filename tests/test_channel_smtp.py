"""The SMTP channel through smtplib against aiosmtpd on loopback: STARTTLS, implicit TLS, AUTH, refusals."""
from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from relay.channels import ChannelUnavailable, channel_for, destination_key
from relay.channels.smtp import SmtpChannel, from_receiver, parse_url
from relay.config import parse_config
from relay.hosts.wiring import Paths, open_relay
from relay.model import Receiver
from relay.pipeline import process
from relay.render import render
from tests import factories as f
from tests.render_fixtures import csv_attachment, email_parts, parse_email
from tests.sinks.server import TestCA
from tests.sinks.smtp import SmtpSink

PASSWORD = "s3cr3t/P@ss:word%"
USER = "relay@example.com"
TO = "oncall@example.com, managers@example.com"
FROM = "relay@example.com"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def trusted(ca, monkeypatch):
    """The channel's default TLS context trusts the test CA, as it would trust a real one."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    return ca


def url(sink: SmtpSink, scheme: str = "smtp", user: str | None = USER, password: str = PASSWORD, query: str = "") -> str:
    login = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    return f"{scheme}://{login}127.0.0.1:{sink.port}{query}"


def receiver(**options) -> Receiver:
    return Receiver(name="mail", channel="email", transport="smtp", destination_env="RELAY_SMTP_URL",
                    options={"to": TO, "from": FROM, **options})


def channel(address: str) -> SmtpChannel:
    return from_receiver(receiver(), environ={"RELAY_SMTP_URL": address})


def message(notification=None):
    return render(notification or f.planned(), receiver())


def assert_same_email(sent: bytes, received: bytes) -> None:
    original, arrived = parse_email(sent), parse_email(received)
    assert str(arrived["Subject"]) == str(original["Subject"])
    assert "【要対応 " in str(arrived["Subject"])
    assert email_parts(arrived) == email_parts(original)
    assert csv_attachment(arrived) == csv_attachment(original)


def test_starttls_and_login_deliver_the_japanese_email_intact(trusted):
    with SmtpSink(tls=trusted, users={USER: PASSWORD}) as sink:
        sent = message()
        result = channel(url(sink)).send(sent)
        assert result.ok, result.detail
        assert result.detail == "sent to 2 recipient(s)"
        [received] = sink.messages
    assert received.authenticated_as == USER
    assert received.mail_from == FROM
    assert received.rcpt_tos == ["oncall@example.com", "managers@example.com"]
    assert_same_email(sent.body, received.data)
    text, html = email_parts(received.parsed())
    assert "vm-web-01" in text and "vm-web-01" in html


def test_implicit_tls_carries_the_csv_attachment(trusted):
    with SmtpSink(tls=trusted, implicit_tls=True, users={USER: PASSWORD}) as sink:
        sent = message(f.ten_thousand())
        assert channel(url(sink, "smtps")).send(sent).ok
        [received] = sink.messages
    assert_same_email(sent.body, received.data)
    name, data = csv_attachment(received.parsed())
    assert name.endswith(".csv") and data.count(b"\n") > 10_000


def test_an_untrusted_certificate_is_refused_unless_verify_is_off_on_loopback():
    untrusted = TestCA()  # nobody trusts this one
    with SmtpSink(tls=untrusted, users={USER: PASSWORD}) as sink:
        refused = channel(url(sink)).send(message())
        assert not refused.ok and not refused.retryable
        assert "certificate" in refused.detail
        assert sink.logins == []  # the password never left
        assert channel(url(sink, query="?verify=off")).send(message()).ok
        assert len(sink.messages) == 1


def test_verify_off_is_only_for_loopback():
    with pytest.raises(ChannelUnavailable, match="loopback"):
        channel(f"smtp://{USER}:{quote(PASSWORD, safe='')}@smtp.example.com:587?verify=off")
    assert parse_url("smtp://[::1]:25?verify=off").verify is False


def test_a_login_without_tls_is_refused_before_anything_is_sent():
    with pytest.raises(ChannelUnavailable, match="needs TLS") as raised:
        channel(f"smtp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:25?starttls=off")
    assert PASSWORD not in str(raised.value) and quote(PASSWORD, safe="") not in str(raised.value)


def test_plain_smtp_without_login_when_asked(ca):
    with SmtpSink() as sink:
        result = channel(url(sink, user=None, query="?starttls=off")).send(message())
        assert result.ok and len(sink.messages) == 1


def test_starttls_is_required_by_default():
    with SmtpSink() as sink:  # a server that offers no STARTTLS
        result = channel(url(sink, user=None)).send(message())
        assert not result.ok and not result.retryable
        assert "STARTTLS" in result.detail and sink.messages == []


@pytest.mark.parametrize(("code", "at", "retryable"), [
    (451, "rcpt", True), (452, "rcpt", True), (550, "rcpt", False),
    (451, "mail", True), (421, "data", True), (554, "data", False), (552, "data", False),
])
def test_smtp_replies_are_classified(trusted, code, at, retryable):
    with SmtpSink(tls=trusted, users={USER: PASSWORD}) as sink:
        sink.fail_next(code, at=at, times=2)  # both recipients
        result = channel(url(sink)).send(message())
        assert not result.ok
        assert result.retryable is retryable
        assert str(code) in result.detail
        assert sink.messages == []


def test_one_refused_recipient_of_two_is_still_a_delivery(trusted):
    with SmtpSink(tls=trusted, users={USER: PASSWORD}) as sink:
        sink.fail_next(550, at="rcpt")
        result = channel(url(sink)).send(message())
        assert result.ok  # a retry would send the other recipient a second copy
        assert "1 of 2 recipient(s) refused (550)" in result.detail
        assert sink.messages[0].rcpt_tos == ["managers@example.com"]


def test_a_wrong_password_is_permanent_and_never_shown(trusted, caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpSink(tls=trusted, users={USER: "the-right-one"}) as sink:
        result = channel(url(sink)).send(message())
    assert not result.ok and not result.retryable
    assert "535" in result.detail and "login failed" in result.detail
    assert set(sink.logins) == {USER}  # smtplib tries PLAIN, then LOGIN
    for text in (result.detail, caplog.text):
        assert PASSWORD not in text and quote(PASSWORD, safe="") not in text


def test_an_unreachable_server_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    result = channel(f"smtp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}").send(message())
    assert not result.ok and result.retryable
    assert "cannot reach" in result.detail and PASSWORD not in result.detail


def test_a_silent_server_times_out_and_is_retryable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts the connection, never greets
        server = parse_url(f"smtp://127.0.0.1:{listener.getsockname()[1]}")
        result = SmtpChannel(server, timeout=0.3).send(message())
    assert not result.ok and result.retryable
    assert "in time" in result.detail


def test_missing_or_bad_urls_name_the_variable_never_the_secret():
    with pytest.raises(ChannelUnavailable, match="RELAY_SMTP_URL is not set"):
        from_receiver(receiver(), environ={})
    for bad in (f"http://u:{PASSWORD}@host", f"smtp://u:{PASSWORD}@host:port", f"smtp://u:{PASSWORD}@host?tls=no",
                f"smtp://u:{PASSWORD}@host:0", f"smtp://u:{PASSWORD}@host:70000", f"smtp://u:{PASSWORD}@-host-:25",
                f"smtp://u:{PASSWORD}@host.999:25", f"smtp://u:{PASSWORD}@:25"):
        with pytest.raises(ChannelUnavailable) as raised:
            from_receiver(receiver(), environ={"RELAY_SMTP_URL": bad})
        assert "RELAY_SMTP_URL" in str(raised.value) and PASSWORD not in str(raised.value)


def test_channel_for_builds_it_with_a_rate_limit_that_hides_the_host(tmp_path):
    env = {"RELAY_SMTP_URL": f"smtp://{USER}:{quote(PASSWORD, safe='')}@mail.internal.example:2525"}
    built = channel_for(receiver(max_per_second="2"), tmp_path, threads=None, environ=env)
    assert isinstance(built, SmtpChannel)
    assert (built.server.host, built.server.port, built.server.password) == ("mail.internal.example", 2525, PASSWORD)
    assert built.limit.key == destination_key("mail.internal.example") and built.limit.per_second == 2.0
    assert parse_url("smtps://mail.example").port == 465 and parse_url("smtp://mail.example").port == 587


def test_the_pipeline_delivers_an_example_alert_over_smtp(trusted, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = parse_config({"receivers": [{
        "name": "managers", "channel": "email", "via": "smtp", "destination": "RELAY_SMTP_URL",
        "to": ["managers@example.com"], "from": "azure-relay@example.com", "language": "both",
    }]})
    with SmtpSink(tls=trusted, users={USER: PASSWORD}) as sink:
        relay = open_relay(config, Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite", tmp_path / "outbox"),
                           environ={"RELAY_SMTP_URL": url(sink)})
        try:
            raw = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
            outcome = process(raw, relay)
            assert outcome.ok, [d.result.detail for d in outcome.deliveries]
            assert process(raw, relay).status == "duplicate"  # sent once
        finally:
            relay.ledger.close()
        [received] = sink.messages
    mail = received.parsed()
    assert received.rcpt_tos == ["managers@example.com"] and received.mail_from == "azure-relay@example.com"
    assert "XY12-3ZQ" in str(mail["Subject"]) and "VM 再起動" in str(mail["Subject"])
    text, html = email_parts(mail)
    assert "Planned maintenance" in text and "<html" in html
    assert PASSWORD not in caplog.text and quote(PASSWORD, safe="") not in caplog.text
    assert not (tmp_path / "outbox").exists()
