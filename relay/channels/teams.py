"""Teams through a Workflows webhook ("When a Teams webhook request is received"): POST the envelope.

The flow answers 202 with an empty body once it has queued the card; 429 and 5xx may pass later.
Flows limited to the tenant ("Any user in my tenant") need an Entra bearer token: `auth: entra`.
Office 365 connector URLs (…webhook.office.com/…/IncomingWebhook/…) are refused: they were retired in 2026.
"""
from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay.channels import ChannelUnavailable, RateLimit, ThreadStore, destination_key, http, rate_of, secret_from
from relay.model import Message, Receiver, SendResult

DEFAULT_AUDIENCE = "https://service.flow.microsoft.com/"

RETIRED_CONNECTOR = (
    "receiver {name!r}: environment variable {variable} holds an Office 365 connector URL (Incoming Webhook)."
    " Microsoft retired Office 365 connectors in Teams in 2026, so it no longer delivers anything."
    " Create a Workflows webhook instead: in Teams, open the Workflows app → 'Send webhook alerts to a channel',"
    " choose the team and channel, copy the URL it shows, and put that URL in the environment variable {variable}."
)


def is_retired_connector(url: str) -> bool:
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path.lower()
    return (host.endswith("webhook.office.com") or "/incomingwebhook/" in path
            or (host == "outlook.office.com" and path.startswith("/webhook/")))


class TeamsChannel:
    def __init__(self, url: str, *, limit: RateLimit | None = None, timeout: float = http.DEFAULT_TIMEOUT,
                 credential: Any = None, audience: str = DEFAULT_AUDIENCE, ssl_context: ssl.SSLContext | None = None):
        self._url = url
        self._secrets = _parts_of(url)
        self.limit = limit
        self.timeout = timeout
        self._credential = credential  # azure-identity style: get_token(scope).token
        self.scope = audience if audience.endswith("/") else audience + "/"
        self.scope += ".default"
        self._ssl = ssl_context

    def send(self, message: Message) -> SendResult:
        headers = {"Content-Type": "application/json"}
        secrets = self._secrets
        if self._credential is not None:
            try:
                token = self._credential.get_token(self.scope).token
                headers["Authorization"] = f"Bearer {token}"
                secrets += (token,)
            except Exception as e:  # azure-identity raises its own types; none is worth a crash
                unavailable = type(e).__name__ == "CredentialUnavailableError"  # no identity here: a retry won't help
                return SendResult.failed(f"Teams: no Entra token for {self.scope} ({type(e).__name__})",
                                         retryable=not unavailable)
        try:
            response = http.post(self._url, message.body, headers, timeout=self.timeout, context=self._ssl)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, "Teams")
        if not response.ok:
            code = http.error_code(response.body, secrets)
            return http.failure(response.status, response.headers, f"Teams: {code}" if code else "Teams")
        if response.status == 200 and not _accepted(response.body):
            # The old connectors answered 200 with an error text instead of "1".
            code = http.error_code(response.body, secrets) or "an unexpected answer"
            return SendResult.failed(f"Teams: HTTP 200 with an error text: {code}", retryable=False)
        return SendResult.delivered(f"accepted by the Teams workflow (HTTP {response.status})")


def _parts_of(url: str) -> tuple[str, ...]:
    """The URL's path segments and query values: any of them echoed back must not reach a result."""
    parts = urlsplit(url)
    values = [v for pairs in parse_qs(parts.query).values() for v in pairs]
    return tuple(p for p in [*parts.path.split("/"), *values] if len(p) >= 16)


def _accepted(body: bytes) -> bool:
    """An empty body, the connectors' "1", or JSON (a custom flow's Response action) mean accepted."""
    text = body.strip()
    if text in (b"", b"1"):
        return True
    return text[:1] in (b"{", b"[")


def destination(receiver: Receiver, environ: Mapping[str, str]) -> str:
    """The Workflows URL in the receiver's variable: https, and not a retired connector's."""
    url = secret_from(receiver, environ)
    http.require_https(url, receiver.name, f"environment variable {receiver.destination_env}")
    if is_retired_connector(url):
        raise ChannelUnavailable(RETIRED_CONNECTOR.format(name=receiver.name, variable=receiver.destination_env))
    return url


def from_receiver(receiver: Receiver, *, environ: Mapping[str, str], threads: ThreadStore | None = None,
                  timeout: float = http.DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None) -> TeamsChannel:
    url = destination(receiver, environ)
    credential = _entra_credential(receiver, environ) if receiver.options.get("auth") == "entra" else None
    return TeamsChannel(
        url,
        limit=RateLimit(destination_key(url), rate_of(receiver, 4.0)),
        timeout=timeout,
        credential=credential,
        audience=receiver.options.get("audience") or DEFAULT_AUDIENCE,
        ssl_context=ssl_context,
    )


def _entra_credential(receiver: Receiver, environ: Mapping[str, str]) -> Any:
    try:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    except ImportError:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: auth: entra needs the azure-identity package") from None
    client_id = environ.get("AZURE_CLIENT_ID")
    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
