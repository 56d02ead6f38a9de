"""The Graph channel through the real msal, azure-identity and requests against a loopback Graph + Entra ID."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from relay.channels import ChannelUnavailable, channel_for, destination_key
from relay.channels.graph import GraphChannel, from_receiver
from relay.model import Receiver
from relay.render import render
from tests import factories as f
from tests.render_fixtures import csv_attachment, email_parts, parse_email
from tests.sinks.graph import CLIENT_ID, ClientCertificate, GraphSink
from tests.sinks.server import TestCA

SECRET = "Zq8~client.secret-value_42"
SENDER = "relay@contoso.example"


@pytest.fixture(autouse=True)
def environment(ca, monkeypatch):
    """msal and azure-core (requests) and sendMail (ssl's default context) trust the test CA;
    no real managed identity is in reach."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def graph(ca):
    with GraphSink(ca, client_secret=SECRET) as sink:
        yield sink


def receiver(sink: GraphSink, **options) -> Receiver:
    return Receiver(name="managers", channel="email", transport="graph", options={
        "sender": SENDER, "to": "managers@contoso.example", "from": SENDER,
        "graph_url": sink.url, "authority": sink.url, **options})


def channel(sink: GraphSink, environ: dict | None = None, **options) -> GraphChannel:
    return from_receiver(receiver(sink, **options), environ=sink.environ() if environ is None else environ)


def message(sink: GraphSink, notification=None):
    return render(notification or f.planned(), receiver(sink))


def test_the_mime_message_arrives_intact_with_a_token_from_entra_id(graph):
    sent = message(graph, f.ten_thousand())
    result = channel(graph).send(sent)
    assert result.ok, result.detail
    assert result.reference  # Graph's request-id
    [request] = graph.token_requests
    assert request == {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_info": "1",
                       "scope": f"{graph.url}/.default", "auth": "secret"}
    [mail] = graph.mails
    assert mail.sender == SENDER and mail.token == graph.issued[0]
    original, arrived = parse_email(sent.body), mail.parsed()
    assert str(arrived["Subject"]) == str(original["Subject"]) and "【要対応 " in str(arrived["Subject"])
    assert email_parts(arrived) == email_parts(original)
    name, data = csv_attachment(arrived)
    assert (name, data) == csv_attachment(original) and data.count(b"\n") > 10_000


def test_one_token_serves_many_sends(graph):
    graph_channel = channel(graph)
    for _ in range(3):
        assert graph_channel.send(message(graph)).ok
    assert len(graph.token_requests) == 1 and len(graph.issued) == 1
    assert {mail.token for mail in graph.mails} == set(graph.issued)


def test_a_certificate_signs_the_client_assertion(ca, tmp_path):
    certificate = ClientCertificate()
    pem = certificate.write(tmp_path / "app.pem", password="pem-passphrase")
    with GraphSink(ca, certificate=certificate) as sink:
        env = sink.environ(AZURE_CLIENT_CERTIFICATE_PATH=str(pem), AZURE_CLIENT_CERTIFICATE_PASSWORD="pem-passphrase")
        assert channel(sink, env).send(message(sink)).ok
        assert [r["auth"] for r in sink.token_requests] == ["certificate"]
        assert len(sink.mails) == 1


def test_a_client_secret_is_preferred_to_a_certificate(graph, tmp_path):
    pem = ClientCertificate().write(tmp_path / "other.pem")
    assert channel(graph, graph.environ(AZURE_CLIENT_CERTIFICATE_PATH=str(pem))).send(message(graph)).ok
    assert [r["auth"] for r in graph.token_requests] == ["secret"]


def test_without_app_credentials_the_managed_identity_is_used(ca, monkeypatch):
    with GraphSink(ca, identity_header="identity-header-value") as sink:
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{sink.url}/msi/token")  # as App Service and Functions set it
        monkeypatch.setenv("IDENTITY_HEADER", "identity-header-value")
        system = channel(sink, environ={})
        assert system.send(message(sink)).ok and system.send(message(sink)).ok
        user_assigned = channel(sink, environ={"AZURE_CLIENT_ID": "uami-client-id"})
        assert user_assigned.send(message(sink)).ok
        assert sink.token_requests == []
        queries = [r.query for r in sink.identity_requests]
    assert queries == [{"api-version": ["2019-08-01"], "resource": [sink.url]},
                       {"api-version": ["2019-08-01"], "resource": [sink.url], "client_id": ["uami-client-id"]}]
    assert [m.token for m in sink.mails] == [sink.issued[0], sink.issued[0], sink.issued[1]]


def test_a_refused_managed_identity_is_not_retried(ca, monkeypatch):
    with GraphSink(ca, identity_header="expected") as sink:
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{sink.url}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", "something-else")
        result = channel(sink, environ={}).send(message(sink))
    assert not result.ok and not result.retryable
    assert "managed identity" in result.detail and "something-else" not in result.detail
    assert sink.mails == []


@pytest.mark.parametrize(("status", "header", "wait"), [
    (429, "7", 7.0), (503, "2", 2.0), (504, None, None), (500, None, None), (502, "0", 0.0),
])
def test_throttling_and_server_errors_are_retryable(graph, status, header, wait):
    graph.fail_mail(status, retry_after=header)
    result = channel(graph).send(message(graph))
    assert not result.ok and result.retryable
    assert result.retry_after == wait
    assert result.detail.startswith(f"Graph sendMail: ErrorTest: HTTP {status}")


def test_retry_after_as_an_http_date(graph):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    graph.fail_mail(503, retry_after=later)
    result = channel(graph).send(message(graph))
    assert result.retryable and 25 <= result.retry_after <= 30


def test_missing_mail_send_permission_is_permanent_and_explained(ca):
    with GraphSink(ca, client_secret=SECRET, mail_send=False) as sink:
        result = channel(sink).send(message(sink))
    assert not result.ok and not result.retryable
    assert result.detail.startswith("Graph sendMail: ErrorAccessDenied: HTTP 403 Forbidden")
    assert "Mail.Send" in result.detail


@pytest.mark.parametrize(("status", "code"), [(401, "InvalidAuthenticationToken"), (400, "ErrorInvalidRecipients"),
                                              (404, "ErrorInvalidUser")])
def test_other_client_errors_are_permanent(graph, status, code):
    graph.fail_mail(status, body={"error": {"code": code, "message": "the request echoed back"}})
    result = channel(graph).send(message(graph))
    assert not result.ok and not result.retryable and result.retry_after is None
    assert f"{code}: HTTP {status}" in result.detail and "echoed" not in result.detail


def test_an_unknown_sender_mailbox(graph):
    result = channel(graph, sender="nobody@contoso.example").send(message(graph))
    assert not result.ok and not result.retryable and "ErrorInvalidUser" in result.detail


def test_a_wrong_client_secret_is_permanent_and_never_shown(ca, caplog):
    caplog.set_level(logging.DEBUG)
    with GraphSink(ca, client_secret="the-right-one") as sink:
        result = channel(sink, sink.environ(AZURE_CLIENT_SECRET=SECRET)).send(message(sink))
        assert sink.mails == []
    assert not result.ok and not result.retryable
    assert result.detail == "token request refused by Entra ID: invalid_client (AADSTS7000215)"
    assert SECRET not in caplog.text and "the-right-one" not in caplog.text


def test_token_server_errors_are_retryable(graph):
    graph.refuse_tokens(error="temporarily_unavailable", status=503, code=50001)
    result = channel(graph).send(message(graph))
    assert not result.ok and result.retryable and graph.mails == []


def test_an_unknown_tenant_is_permanent(graph):
    result = channel(graph, graph.environ(AZURE_TENANT_ID="ffffffff-0000-0000-0000-000000000000")).send(message(graph))
    assert not result.ok and not result.retryable
    assert "unknown tenant" in result.detail


def test_an_untrusted_certificate_is_refused(ca, monkeypatch):
    with GraphSink(TestCA(), client_secret=SECRET) as stranger:  # a CA nobody trusts
        result = channel(stranger).send(message(stranger))
        assert stranger.token_requests == []  # the secret never left
    assert not result.ok and not result.retryable and "not trusted" in result.detail


def test_an_unreachable_graph_is_retryable(graph):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{s.getsockname()[1]}"
    result = channel(graph, graph_url=closed).send(message(graph))
    assert not result.ok and result.retryable and result.detail == "Graph sendMail: connection refused"


def test_secrets_and_tokens_stay_out_of_details_and_logs(graph, caplog):
    caplog.set_level(logging.DEBUG)
    graph_channel = channel(graph)
    results = [graph_channel.send(message(graph))]
    graph.fail_mail(429, retry_after="1")
    results.append(graph_channel.send(message(graph)))
    graph.refuse_tokens()
    results.append(channel(graph).send(message(graph)))
    assert [r.ok for r in results] == [True, False, False]
    texts = [caplog.text] + [r.detail for r in results] + [str(r.reference) for r in results]
    for secret in [SECRET, *graph.issued]:
        assert all(secret not in text for text in texts)


def test_setup_problems_name_what_is_missing(graph, tmp_path):
    with pytest.raises(ChannelUnavailable, match="sender"):
        from_receiver(Receiver(name="m", channel="email", transport="graph"), environ=graph.environ())
    env = {**graph.environ(), "AZURE_CLIENT_CERTIFICATE_PATH": str(tmp_path / "missing.pem")}
    del env["AZURE_CLIENT_SECRET"]
    with pytest.raises(ChannelUnavailable, match="AZURE_CLIENT_CERTIFICATE_PATH"):
        channel(graph, env)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ChannelUnavailable, match="not a PEM file"):
        channel(graph, {**env, "AZURE_CLIENT_CERTIFICATE_PATH": str(tmp_path / "junk.pem")})


def test_channel_for_builds_it_with_a_per_mailbox_limit(graph, tmp_path):
    built = channel_for(receiver(graph), tmp_path, threads=None, environ=graph.environ())
    assert isinstance(built, GraphChannel)
    assert built.url == f"{graph.url}/v1.0/users/{SENDER}/sendMail"
    assert (built.limit.key, built.limit.per_second) == (destination_key(SENDER), 4.0)
    assert graph.server.requests == []  # nothing is fetched before the first send


def test_importing_the_module_loads_no_sdk():
    code = ("import sys, relay.channels.graph;"
            " print(sorted(m for m in ('msal', 'azure.identity', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
