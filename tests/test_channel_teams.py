"""Teams through a Workflows webhook, against a loopback trigger over HTTPS: what arrives, how every
failure is classified, which URLs are refused, and that the URL never leaks. Also the shared HTTP rules."""
from __future__ import annotations

import json
import logging
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from relay.channels import ChannelUnavailable, channel_for, destination_key, http
from relay.channels.teams import TeamsChannel, from_receiver
from relay.model import Receiver
from relay.render import render
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.sinks.server import TestCA
from tests.sinks.teams import TeamsSink

ENV = "TEAMS_URL"


@pytest.fixture
def sink(ca):
    with TeamsSink(tls=ca) as sink:
        yield sink


def teams_receiver(**options: str) -> Receiver:
    return Receiver("oncall-teams", "teams", transport="teams", destination_env=ENV, options=options)


def channel_to(sink: TeamsSink, ca: TestCA, timeout: float = 0.5, **options: str) -> TeamsChannel:
    return from_receiver(teams_receiver(**options), environ={ENV: sink.url}, timeout=timeout,
                         ssl_context=ca.client_context())


@pytest.fixture
def message():
    return render(f.planned(), teams_receiver())


class FakeCredential:
    def __init__(self, token: str = "eyJ0eXAi.fake.token", error: Exception | None = None):
        self.token, self.error, self.scopes = token, error, []

    def get_token(self, *scopes: str):
        self.scopes += scopes
        if self.error:
            raise self.error
        return type("AccessToken", (), {"token": self.token, "expires_on": 0})()


def test_the_card_arrives_as_rendered(sink, ca, message):
    result = channel_to(sink, ca).send(message)
    assert result.ok and "202" in result.detail
    sent = json.loads(message.body)
    assert sink.cards == [sent["attachments"][0]["content"]]
    assert sink.cards[0]["type"] == "AdaptiveCard" and sink.cards[0]["body"]
    request = sink.requests[0]
    assert request.method == "POST" and request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers


@pytest.mark.parametrize("fault, retryable, retry_after", [
    (dict(status=429, retry_after=7), True, 7.0),
    (dict(status=429), True, None),
    (dict(status=500), True, None),
    (dict(status=503, retry_after=2), True, 2.0),
    (dict(status=408), True, None),
    (dict(status=400, body={"error": {"code": "InvalidRequestContent", "message": "bad"}}), False, None),
    (dict(status=401), False, None),
    (dict(status=404), False, None),
    (dict(status=413, body="Request Entity too large"), False, None),
    (dict(status=200, body="Summary or Text is required."), False, None),  # the old connectors' 200 + error text
    (dict(status=200, delay=2.0), True, None),  # slower than the client's timeout
    (dict(drop=True), True, None),  # the connection closes without an answer
])
def test_failures_are_classified(sink, ca, message, fault, retryable, retry_after):
    sink.fail_next(**fault)
    result = channel_to(sink, ca, timeout=0.3).send(message)
    assert not result.ok
    assert (result.retryable, result.retry_after) == (retryable, retry_after)
    assert result.detail.startswith("Teams")
    assert sink.cards == []


def test_error_codes_and_timeouts_are_named(sink, ca, message):
    channel = channel_to(sink, ca, timeout=0.3)
    sink.fail_next(400, body={"error": {"code": "InvalidRequestContent", "message": "bad"}})
    assert "InvalidRequestContent" in channel.send(message).detail
    sink.fail_next(200, delay=2.0)
    assert "timeout" in channel.send(message).detail
    sink.fail_next(drop=True)
    assert "connection dropped" in channel.send(message).detail


@pytest.mark.parametrize("body", [b"1", b"", b'{"messageId": "1700000000000"}'])
def test_a_200_with_the_connectors_1_or_a_flows_json_answer_is_delivered(sink, ca, message, body):
    sink.fail_next(200, body=body)
    assert channel_to(sink, ca).send(message).ok


def test_a_redirect_is_not_followed(sink, ca, message):
    sink.server.fail_next(302, body=b"")  # no Location needed: it must not be followed either way
    result = channel_to(sink, ca).send(message)
    assert not result.ok and not result.retryable and "302" in result.detail
    assert len(sink.requests) == 1


def test_a_refused_connection_is_retryable(message):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = TeamsChannel(f"http://127.0.0.1:{port}/workflows/x/triggers/manual/paths/invoke?sig=s").send(message)
    assert not result.ok and result.retryable and "refused" in result.detail


def test_an_untrusted_certificate_is_not_retried(sink, message):
    result = TeamsChannel(sink.url, timeout=2).send(message)  # the system's CAs do not know the test CA
    assert not result.ok and not result.retryable and "certificate" in result.detail


def test_the_sink_throttles_and_the_channel_reports_its_retry_after(ca, message):
    with TeamsSink(tls=ca, per_second=2) as sink:
        channel = channel_to(sink, ca)
        results = [channel.send(message) for _ in range(3)]
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].retryable and results[2].retry_after == 1.0
    assert sink.throttled == 1 and len(sink.cards) == 2


def test_a_body_that_is_no_envelope_is_refused_by_the_sink(sink, ca, message):
    bad = replace(message, body=b'{"text": "plain text, no card"}')
    result = channel_to(sink, ca).send(bad)
    assert not result.ok and not result.retryable and "InvalidRequestContent" in result.detail


# --- Entra bearer token (flows limited to the tenant) ---


def test_an_entra_token_is_sent_for_the_flow_audience(ca, message):
    credential = FakeCredential()
    with TeamsSink(tls=ca, token=credential.token) as sink:
        channel = channel_to(sink, ca)
        assert not channel.send(message).ok  # without a token the trigger refuses it
        channel._credential = credential
        assert channel.send(message).ok
    assert credential.scopes == ["https://service.flow.microsoft.com/.default"]
    assert sink.requests[-1].headers["authorization"] == f"Bearer {credential.token}"


def test_the_audience_can_be_changed(sink):
    channel = from_receiver(teams_receiver(audience="https://gov.service.flow.microsoft.us"), environ={ENV: sink.url})
    assert channel.scope == "https://gov.service.flow.microsoft.us/.default"


def test_a_token_that_cannot_be_had_fails_without_a_request(sink, ca, message):
    from azure.identity import CredentialUnavailableError

    channel = channel_to(sink, ca)
    channel._credential = FakeCredential(error=RuntimeError("IMDS timed out"))
    transient = channel.send(message)
    channel._credential = FakeCredential(error=CredentialUnavailableError("no managed identity here"))
    missing = channel.send(message)
    assert not transient.ok and transient.retryable and "RuntimeError" in transient.detail
    assert not missing.ok and not missing.retryable and "CredentialUnavailableError" in missing.detail
    assert sink.requests == []


def test_auth_entra_picks_the_credential(sink):
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    user_assigned = from_receiver(teams_receiver(auth="entra"), environ={ENV: sink.url, "AZURE_CLIENT_ID": "0000-1111"})
    default = from_receiver(teams_receiver(auth="entra"), environ={ENV: sink.url})
    plain = from_receiver(teams_receiver(auth="none"), environ={ENV: sink.url})
    assert isinstance(user_assigned._credential, ManagedIdentityCredential)
    assert isinstance(default._credential, DefaultAzureCredential)
    assert plain._credential is None


# --- which URLs are accepted ---


@pytest.mark.parametrize("url", [
    "https://contoso.webhook.office.com/webhookb2/1a2b3c@4d5e6f/IncomingWebhook/7a8b9c0d/1e2f3a4b",
    "https://outlook.office.com/webhook/1a2b3c@4d5e6f/IncomingWebhook/7a8b9c0d/1e2f3a4b",
])
def test_a_retired_connector_url_is_refused_with_the_way_out(url):
    with pytest.raises(ChannelUnavailable) as refused:
        from_receiver(teams_receiver(), environ={ENV: url})
    text = str(refused.value)
    assert "retired" in text and "2026" in text
    assert "Workflows" in text and "Send webhook alerts to a channel" in text and ENV in text
    assert "1a2b3c" not in text and "office.com" not in text


@pytest.mark.parametrize("url", ["http://prod-12.japaneast.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=zzz",
                                 "ftp://127.0.0.1/x", "not a url",
                                 "https://prod-12.japaneast.logic.azure.com:44x/workflows/abc/triggers/manual?sig=zzz",
                                 "https://prod-12.japaneast.logic.azure.com:0/workflows/abc/triggers/manual?sig=zzz",
                                 "https://prod_12!.japaneast.logic.azure.com/workflows/abc/triggers/manual?sig=zzz"])
def test_a_url_that_is_not_https_is_refused(url):
    with pytest.raises(ChannelUnavailable) as refused:
        from_receiver(teams_receiver(), environ={ENV: url})
    assert ENV in str(refused.value) and "zzz" not in str(refused.value) and "logic.azure" not in str(refused.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/workflows/a/triggers/manual/paths/invoke",
                                 "http://localhost:9/workflows/a/triggers/manual/paths/invoke",
                                 "https://prod-12.japaneast.logic.azure.com/workflows/a/triggers/manual/paths/invoke?sig=s"])
def test_https_and_plain_http_to_this_machine_are_accepted(url):
    assert isinstance(from_receiver(teams_receiver(), environ={ENV: url}), TeamsChannel)


def test_a_missing_variable_is_named_without_any_value(tmp_path):
    environ = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/secretvalue"}
    with pytest.raises(ChannelUnavailable) as refused:
        channel_for(teams_receiver(), tmp_path, SqliteLedger(":memory:"), environ)
    assert ENV in str(refused.value) and "secretvalue" not in str(refused.value)


def test_the_rate_limit_is_per_url(sink):
    channel = from_receiver(teams_receiver(), environ={ENV: sink.url})
    assert channel.limit.key == destination_key(sink.url) and channel.limit.per_second == 4.0
    assert sink.sig not in channel.limit.key
    assert from_receiver(teams_receiver(max_per_second="0.5"), environ={ENV: sink.url}).limit.per_second == 0.5


def test_the_url_never_reaches_a_result_or_the_log(ca, message, caplog):
    caplog.set_level(logging.DEBUG)
    credential = FakeCredential(token="tok-" + "9" * 30)
    with TeamsSink(tls=ca, token=credential.token) as sink:
        channel = channel_to(sink, ca, timeout=0.3)
        channel._credential = credential
        faults = [dict(status=429, retry_after=1), dict(status=500, body=f"boom at {sink.url}"),
                  dict(status=400, body={"error": {"code": sink.url}}), dict(status=200, body=sink.url),
                  dict(status=200, delay=1.0), dict(drop=True), dict(status=302), dict(status=400, body=sink.sig),
                  dict(status=401, body={"error": {"code": credential.token}}), dict(status=200, body=sink.workflow)]
        results = [channel.send(message)]
        for fault in faults:
            sink.fail_next(**fault)
            results.append(channel.send(message))
        channel._credential = FakeCredential(error=RuntimeError(f"cannot reach {sink.url}"))
        results.append(channel.send(message))
    assert results[0].ok and not any(r.ok for r in results[1:])
    said = [r.detail for r in results] + [r.getMessage() for r in caplog.records]
    for secret in (sink.sig, sink.workflow, credential.token, "/triggers/"):
        assert not any(secret in text for text in said), secret


# --- relay.channels.http: the rules every HTTP channel shares ---


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), ("1.5", 1.5), (" 3 ", 3.0), ("-4", 0.0),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
    (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
    ("soon", None), ("", None), (None, None),
])
def test_retry_after_reads_seconds_and_http_dates(value, seconds):
    assert http.retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize("status, retryable", [(408, True), (429, True), (500, True), (502, True), (503, True),
                                               (504, True), (400, False), (401, False), (403, False), (404, False),
                                               (409, False), (410, False), (413, False)])
def test_status_classification(status, retryable):
    result = http.failure(status, {"retry-after": "5"}, "Graph")
    assert not result.ok and result.retryable is retryable
    assert result.retry_after == (5.0 if retryable else None)
    assert result.detail.startswith(f"Graph: HTTP {status}")


@pytest.mark.parametrize("body, code", [
    (b'{"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}', "ErrorAccessDenied"),
    (b'{"ok": false, "error": "channel_not_found"}', "channel_not_found"),
    (b"invalid_payload", "invalid_payload"),
    (b"see https://example.com/x?sig=abc", None),
    (b"<html><body>502</body></html>", None),
    (b"line one\nline two", None),
    (b"", None),
])
def test_error_codes_are_short_and_never_urls(body, code):
    assert http.error_code(body) == code


def test_both_retired_connector_hosts_are_recognised():
    from relay.channels.teams import is_retired_connector

    assert is_retired_connector("https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi")
    assert is_retired_connector("https://outlook.office.com/webhook/abc/IncomingWebhook/def/ghi")
    assert not is_retired_connector("https://prod-01.japaneast.logic.azure.com/workflows/abc/triggers/manual/paths/invoke")
