"""Email through Microsoft Graph: `POST {graph_url}/v1.0/users/{sender}/sendMail` with an app-only token.

The rendered MIME message is posted as base64 with `Content-Type: text/plain`, so the text part, the
HTML part and any attachment arrive exactly as rendered. Graph answers 202 when it has accepted it;
the POST and the reading of its answer are the channels' shared ones (relay.channels.http).

The token comes from, in this order:
  1. AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET: msal, with the client secret;
  2. AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_CERTIFICATE_PATH: msal, with a PEM file holding
     the private key and the certificate (AZURE_CLIENT_CERTIFICATE_PASSWORD if the key is encrypted);
  3. otherwise the managed identity (azure-identity), user-assigned when AZURE_CLIENT_ID is set.
The app needs the Graph application permission Mail.Send, and Mail.Read for the lookups below. msal and
azure-identity load on the first call, and one msal app (with its token cache) serves every call of the channel.

Exactly once (relay.channels.Checkable): a send of an attempt carries the header `X-Relay-Delivery:
<delivery_id>`, and after an unknown outcome `find` looks for it in the sender's Sent Items:
    GET {graph_url}/v1.0/users/{sender}/mailFolders/SentItems/messages?$filter=singleValueExtendedProperties/Any(
        ep: ep/id eq 'String {00020386-0000-0000-C000-000000000046} Name X-Relay-Delivery' and ep/value eq '<id>')
Why this mark: Graph does not say that sendMail keeps a MIME message's Message-ID as the sent item's
internetMessageId (learn.microsoft.com/graph/api/user-sendmail), and the rendered Message-ID is the same for every
attempt anyway. Exchange stores a MIME header it has no property for as a named property of the PS_INTERNET_HEADERS
set (MS-OXCMAIL 2.2.3.2.29), and Graph filters messages on such a property, its name case-sensitively
(learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get). Reading extended properties in another
mailbox needs the application permission Mail.Read: Mail.ReadBasic.All leaves them out. Lookups and sends share
Outlook's 10,000 requests per 10 minutes per app and mailbox (learn.microsoft.com/graph/throttling-limits).
Exchange documents that mail it receives keeps a new X- header only from the second message on (EWS "Provision
x-headers"); should that hold for Sent Items too, a mailbox's first marked message is not found, and is sent again.
"""
from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from relay.channels import ChannelUnavailable, RateLimit, destination_key, http, rate_of
from relay.model import Message, Receiver, SendResult

if TYPE_CHECKING:
    from azure.identity import ManagedIdentityCredential

GRAPH_URL = "https://graph.microsoft.com"
AUTHORITY = "https://login.microsoftonline.com"
TIMEOUT_SECONDS = 30.0
MARK = "X-Relay-Delivery"
MARK_PROPERTY = f"String {{00020386-0000-0000-C000-000000000046}} Name {MARK}"  # the header in PS_INTERNET_HEADERS
# A tenth of what Outlook allows an app in one mailbox (10,000 requests in 10 minutes): the rest is the sends'.
LOOKUPS_PER_SECOND = 10_000 / 600 / 10
# How long a message Graph accepted may take to show in Sent Items. Graph gives no figure (its 202 only means
# accepted), so this is generous: it counts from the attempt's first send, and the retries of an attempt go on for
# up to the pipeline's budget (120 s) after that, which still leaves three minutes after the last.
SETTLE_SECONDS = 300.0
NO_ANSWER = (502, 504)  # Graph's gateway got no answer from the mailbox, which may have taken the message
_TOKEN_REFUSED = "Graph refused the token; check the tenant and the app registration"
_NO_MAILBOX = "Graph does not know the sender mailbox"
_HINTS = {
    401: _TOKEN_REFUSED,
    403: "Graph denied sending; the app needs the application permission Mail.Send with admin consent,"
         " and the mailbox must be in its scope",
    404: _NO_MAILBOX,
}
_LOOKUP_HINTS = {
    401: _TOKEN_REFUSED,
    403: "Graph denied reading the sender's Sent Items; finding what an earlier try sent needs the application"
         " permission Mail.Read with admin consent (Mail.ReadBasic.All leaves out the property the mark is read from),"
         " and the mailbox must be in its scope",
    404: _NO_MAILBOX,
}


class TokenFailure(Exception):
    def __init__(self, detail: str, retryable: bool, retry_after: float | None = None):
        super().__init__(detail)
        self.detail, self.retryable, self.retry_after = detail, retryable, retry_after


class MsalTokens:
    """App-only tokens from msal's ConfidentialClientApplication, built once, on first use."""

    def __init__(self, authority: str, client_id: str, credential: str | dict, scope: str, known_authority: bool):
        self.authority, self.client_id, self.scope = authority, client_id, scope
        self._credential = credential
        self._known_authority = known_authority
        self._app = None
        self._lock = threading.Lock()

    def _application(self):
        import msal

        with self._lock:
            if self._app is None:  # the constructor fetches the authority's OpenID configuration
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, authority=self.authority, client_credential=self._credential,
                    # A sovereign or test authority is not on msal's list: no instance discovery.
                    instance_discovery=None if self._known_authority else False,
                    timeout=TIMEOUT_SECONDS,
                )
            return self._app

    def token(self) -> str:
        import requests
        from msal.exceptions import MsalServiceError

        try:
            result = self._application().acquire_token_for_client(scopes=[self.scope])
        except MsalServiceError:  # an HTTP 5xx or 429 from Entra ID; msal holds such answers for a few seconds
            raise TokenFailure("cannot get a token: Entra ID answered with a server error", True, 5.0) from None
        except requests.exceptions.SSLError:
            raise TokenFailure("cannot get a token: the Entra ID endpoint's TLS certificate is not trusted", False) from None
        except requests.RequestException as e:
            raise TokenFailure(f"cannot get a token: Entra ID endpoint unreachable ({type(e).__name__})", True) from None
        except ValueError:  # msal: the OpenID configuration of the authority could not be read
            raise TokenFailure("cannot get a token: unknown tenant or authority (OpenID discovery failed)", False) from None
        if "access_token" in result:
            return result["access_token"]
        # Only the error code: the description may repeat what was sent.
        error = str(result.get("error") or "unknown error")
        codes = result.get("error_codes") or []
        aadsts = f" (AADSTS{codes[0]})" if codes and str(codes[0]).isdigit() else ""
        raise TokenFailure(f"token request refused by Entra ID: {error}{aadsts}",
                           retryable=error in ("temporarily_unavailable", "server_error"))


_NO_IDENTITY = "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)"


class ManagedIdentityTokens:
    """Tokens of the managed identity (user-assigned when `client_id` is given). `instead` says what to configure
    where there is no managed identity, for the message that says so."""

    def __init__(self, scope: str, client_id: str | None = None, instead: str = _NO_IDENTITY):
        self.scope, self.client_id, self.instead = scope, client_id, instead
        self._credential: ManagedIdentityCredential | None = None

    def token(self) -> str:
        from azure.core.exceptions import AzureError, ClientAuthenticationError
        from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

        if self._credential is None:
            self._credential = ManagedIdentityCredential(client_id=self.client_id or None)
        try:
            return self._credential.get_token(self.scope).token
        except CredentialUnavailableError:
            raise TokenFailure(f"cannot get a token: no managed identity here; {self.instead}", False) from None
        except ClientAuthenticationError as e:
            status = e.status_code
            raise TokenFailure(f"managed identity token refused (HTTP {status or '-'})",
                               retryable=status is None or http.is_retryable(status)) from None
        except AzureError as e:
            raise TokenFailure(f"cannot get a managed identity token ({type(e).__name__})", True) from None


class GraphChannel:
    def __init__(self, sender: str, tokens, graph_url: str = GRAPH_URL, limit: RateLimit | None = None,
                 timeout: float = TIMEOUT_SECONDS, lookup_limit: RateLimit | None = None):
        self.sender = sender
        self.tokens = tokens
        mailbox = f"{graph_url.rstrip('/')}/v1.0/users/{quote(sender, safe='@')}"
        self.url = f"{mailbox}/sendMail"
        self.sent_items_url = f"{mailbox}/mailFolders/SentItems/messages"
        self.limit = limit
        self.lookup_limit = lookup_limit
        self.timeout = timeout

    def send(self, message: Message) -> SendResult:
        if message.content_type != "message/rfc822":
            return SendResult.failed(f"Graph sendMail sends email only, not {message.content_type}", retryable=False)
        try:
            token = self.tokens.token()
        except TokenFailure as e:
            return SendResult.failed(e.detail, e.retryable, e.retry_after)
        body = message.body if message.attempt is None else marked(message.body, message.attempt.delivery_id)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        try:
            response = http.post(self.url, base64.b64encode(body), headers, timeout=self.timeout)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, "Graph sendMail")
        if response.status == 202:
            return SendResult.delivered(f"accepted by Graph for {self.sender}",
                                        reference=http.header(response.headers, "request-id"))
        result = http.refused(response, "Graph sendMail", (token,), _HINTS)
        return replace(result, unknown=response.status in NO_ANSWER)

    def find(self, message: Message) -> SendResult | None:
        """Whether a send of `message.attempt` reached the sender's Sent Items (relay.channels.Checkable). A message
        sent without an attempt carries no mark to find: None."""
        attempt = message.attempt
        if attempt is None:
            return None
        try:
            token = self.tokens.token()
        except TokenFailure as e:
            return SendResult.failed(e.detail, e.retryable, e.retry_after)
        query = urlencode({
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARK_PROPERTY}'"
                       f" and ep/value eq '{attempt.delivery_id}')",
            "$select": "id,internetMessageId,sentDateTime",
            "$top": "1",
        }, quote_via=quote)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            response = http.get(f"{self.sent_items_url}?{query}", headers, timeout=self.timeout)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, "Graph Sent Items lookup")
        if response.status != 200:
            return http.refused(response, "Graph Sent Items lookup", (token,), _LOOKUP_HINTS)
        try:
            found = [item.get("internetMessageId") or item["id"] for item in json.loads(response.body)["value"]]
        except (ValueError, TypeError, LookupError, AttributeError):
            return SendResult.failed("Graph Sent Items lookup: the answer is not a list of messages", retryable=True)
        if found:
            return SendResult.delivered("found in the sender's Sent Items: sent by an earlier try", reference=found[0])
        waited = (datetime.now(UTC) - attempt.first_sent).total_seconds()
        if waited < SETTLE_SECONDS:  # not there yet proves nothing: a sent message can take a while to show
            wait = SETTLE_SECONDS - waited
            return SendResult.failed(f"not in the sender's Sent Items yet, {waited:.0f} s after the send; asking"
                                     f" again in {wait:.0f} s", retryable=True, retry_after=wait)
        return None


def marked(mime: bytes, delivery_id: str) -> bytes:
    """The message with the header `X-Relay-Delivery: <delivery_id>` at the end of its header section, in place of
    any it had; every other byte stays as it was."""
    newline = b"\r\n" if mime[:mime.find(b"\n") + 1].endswith(b"\r\n") else b"\n"
    head, _, body = mime.partition(newline * 2)
    kept, dropping = [], False
    for line in filter(None, head.split(newline)):
        if line[:1] not in (b" ", b"\t"):  # a header's first line; a line that continues it starts with a space or a tab
            dropping = line.partition(b":")[0].strip().lower() == MARK.lower().encode()
        if not dropping:
            kept.append(line)
    kept.append(f"{MARK}: {delivery_id}".encode("ascii"))
    return newline.join(kept) + newline * 2 + body


def certificate_credential(path: str, password: str | None) -> dict:
    """msal's certificate credential from a PEM file holding the private key and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    data = Path(path).read_bytes()
    key = serialization.load_pem_private_key(data, password.encode() if password else None)
    cert = x509.load_pem_x509_certificate(data)
    return {
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),  # what the app registration shows
    }


def tokens_from(environ: Mapping[str, str], graph_url: str, authority: str | None, receiver: str):
    scope = f"{graph_url}/.default"
    tenant, client_id = environ.get("AZURE_TENANT_ID", ""), environ.get("AZURE_CLIENT_ID", "")
    secret, cert_path = environ.get("AZURE_CLIENT_SECRET", ""), environ.get("AZURE_CLIENT_CERTIFICATE_PATH", "")
    if not (tenant and client_id and (secret or cert_path)):
        return ManagedIdentityTokens(scope, client_id or None)
    if secret:
        credential: str | dict = secret
    else:
        try:
            credential = certificate_credential(cert_path, environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None)
        except (OSError, ValueError, TypeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "not a PEM file with a private key and a certificate"
            raise ChannelUnavailable(
                f"receiver {receiver!r}: cannot use the file AZURE_CLIENT_CERTIFICATE_PATH names: {reason}") from None
    return MsalTokens(f"{(authority or AUTHORITY).rstrip('/')}/{tenant}", client_id, credential, scope,
                      known_authority=authority is None)


def from_receiver(receiver: Receiver, environ: Mapping[str, str], threads=None) -> GraphChannel:
    sender = receiver.options.get("sender", "")
    if "@" not in sender:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: sender (the mailbox Graph sends as) is not set")
    graph_url = receiver.options.get("graph_url", GRAPH_URL).rstrip("/")
    tokens = tokens_from(environ, graph_url, receiver.options.get("authority"), receiver.name)
    limit = RateLimit(destination_key(sender), rate_of(receiver, 4.0))
    lookups = RateLimit(destination_key(f"{sender}:lookup"),
                        float(receiver.options.get("lookup_per_second", LOOKUPS_PER_SECOND)))
    return GraphChannel(sender, tokens, graph_url, limit, lookup_limit=lookups)
