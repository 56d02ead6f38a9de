"""Email through Azure Communication Services (azure-communication-email), from the connection string
(`endpoint=https://….communication.azure.com/;accesskey=…`) in the variable the receiver names.

ACS takes JSON, not MIME: the rendered message is read back into subject, plain text, HTML,
recipients and attachments. `begin_send` queues it (HTTP 202); the channel then waits a bounded time
for the operation to finish. An operation that is still running when the wait ends was accepted and
counts as sent: sending it again could deliver it twice.
"""
from __future__ import annotations

import base64
import binascii
import email
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import TYPE_CHECKING

from relay.channels import ChannelUnavailable, RateLimit, checked_url, destination_key, http, rate_of, secret_from
from relay.model import Message, Receiver, SendResult

if TYPE_CHECKING:
    from azure.communication.email import EmailClient

WAIT_SECONDS = 20.0  # for the queued send to finish
POLL_SECONDS = 1.0  # between status checks when ACS gives no Retry-After
TIMEOUT_SECONDS = 20.0  # for each HTTP request


def parse_connection_string(value: str) -> tuple[str, str]:
    """(endpoint, access key). Errors never repeat the string: it holds the key."""
    fields = {}
    for element in value.split(";"):
        key, _, item = element.partition("=")
        fields[key.strip().lower()] = item.strip()
    endpoint, key = fields.get("endpoint", "").rstrip("/"), fields.get("accesskey", "")
    try:
        scheme = checked_url(endpoint).scheme
    except ValueError:
        scheme = None
    if scheme != "https":
        raise ValueError("not an ACS connection string: endpoint=https://<resource>.communication.azure.com/;accesskey=<key>")
    try:
        base64.b64decode(key, validate=True)
    except binascii.Error:
        key = ""
    if not key:
        raise ValueError("the ACS connection string has no valid accesskey")
    return endpoint, key


def acs_message(body: bytes) -> dict:
    """The ACS send request for a rendered RFC 5322 message."""
    mime: EmailMessage = email.message_from_bytes(body, policy=default_policy)
    senders = mime["From"].addresses if mime["From"] else ()
    if not senders:
        raise ValueError("the message has no From address")
    recipients = {}
    for header, field in (("To", "to"), ("Cc", "cc")):
        addresses = mime[header].addresses if mime[header] else ()
        if addresses:
            recipients[field] = [{"address": a.addr_spec, **({"displayName": a.display_name} if a.display_name else {})}
                                 for a in addresses]
    if "to" not in recipients:
        raise ValueError("the message has no To address")
    content = {"subject": str(mime["Subject"] or "")}
    for subtype, field in (("plain", "plainText"), ("html", "html")):
        part = mime.get_body(preferencelist=(subtype,))
        if part is not None and part.get_content_subtype() == subtype:
            content[field] = part.get_content()
    request = {"senderAddress": senders[0].addr_spec, "recipients": recipients, "content": content,
               "userEngagementTrackingDisabled": True}  # keep links as rendered
    attachments = [{"name": part.get_filename() or "attachment", "contentType": part.get_content_type(),
                    "contentInBase64": base64.b64encode(_decoded(part)).decode("ascii")}
                   for part in mime.iter_attachments()]
    if attachments:
        request["attachments"] = attachments
    return request


def _decoded(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""  # None when the part has no payload of its own


class AcsChannel:
    def __init__(self, connection_string: str, limit: RateLimit | None = None,
                 wait: float = WAIT_SECONDS, poll_interval: float = POLL_SECONDS):
        self._connection_string = connection_string
        self.limit = limit
        self.wait, self.poll_interval = wait, poll_interval
        self._client: EmailClient | None = None
        self._lock = threading.Lock()

    def client(self) -> EmailClient:
        from azure.communication.email import EmailClient

        with self._lock:
            if self._client is None:
                self._client = EmailClient.from_connection_string(
                    self._connection_string,
                    retry_total=0,  # the pipeline retries, with the channel's pacing
                    connection_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS,
                    polling_interval=self.poll_interval,
                )
            return self._client

    def send(self, message: Message) -> SendResult:
        from azure.core.exceptions import AzureError, HttpResponseError

        if message.content_type != "message/rfc822":
            return SendResult.failed(f"ACS sends email only, not {message.content_type}", retryable=False)
        try:
            request = acs_message(message.body)
        except (ValueError, LookupError, TypeError) as e:
            return SendResult.failed(f"cannot read the rendered email: {e}", retryable=False)
        client = self.client()
        try:
            poller = client.begin_send(request, polling_interval=self.poll_interval)
        except HttpResponseError as e:
            return _refused(e)
        except AzureError as e:
            return _unreachable(e)
        # Queued (202): from here on, ACS has the message.
        try:
            result = poller.result(timeout=self.wait) or {}
        except HttpResponseError as e:
            if e.status_code and e.status_code >= 400:  # the status check itself failed
                return SendResult.delivered(f"queued by ACS; status unknown (HTTP {e.status_code} on the status check)")
            return _operation_failed(e)
        except AzureError as e:
            return SendResult.delivered(f"queued by ACS; status unknown ({type(e).__name__} on the status check)")
        status, operation = str(result.get("status") or poller.status()), result.get("id")
        if status.lower() == "succeeded":
            return SendResult.delivered("sent by ACS", reference=operation)
        return SendResult.delivered(f"queued by ACS; still {status} after {self.wait:g} s", reference=operation)


def _code(e) -> str:
    """ACS's error code from `{"error": {"code": …}}`, never its message; "" when there is none."""
    try:
        code = http.error_code(e.response.text()) if e.response is not None else None
    except Exception:  # an answer without a readable body
        code = None
    return f" {code}" if code else ""


def _refused(e) -> SendResult:
    status = e.status_code or 0
    retryable = http.is_retryable(status)
    headers = e.response.headers if e.response is not None else {}
    after = http.retry_after(http.header(headers, "Retry-After")) if retryable else None
    hint = {401: "; check the access key", 403: "; check the sender domain and the resource"}.get(status, "")
    return SendResult.failed(f"ACS refused the email: HTTP {status}{_code(e)}{hint}", retryable, after)


def _operation_failed(e) -> SendResult:
    try:
        status = e.response.json().get("status") or "Failed"
    except Exception:
        status = "Failed"
    return SendResult.failed(f"ACS could not send the email: {status}{_code(e)}", retryable=True)


def _unreachable(e) -> SendResult:
    cause, seen = e, set()
    while cause is not None and id(cause) not in seen:  # azure-core → requests → urllib3 → ssl
        if isinstance(cause, ssl.SSLCertVerificationError):  # will not pass by retrying
            return SendResult.failed("ACS endpoint's TLS certificate is not trusted", retryable=False)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__ or getattr(cause, "inner_exception", None)
    return SendResult.failed(f"ACS unreachable ({type(e).__name__})", retryable=True)


def destination(receiver: Receiver, environ: Mapping[str, str]) -> tuple[str, str]:
    """(the connection string in the receiver's variable, its endpoint)."""
    connection_string = secret_from(receiver, environ)
    try:
        endpoint, _ = parse_connection_string(connection_string)
    except ValueError as e:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: environment variable {receiver.destination_env}: {e}") from None
    return connection_string, endpoint


def from_receiver(receiver: Receiver, environ: Mapping[str, str], threads=None) -> AcsChannel:
    connection_string, endpoint = destination(receiver, environ)
    # ACS allows 30 emails a minute by default (custom domains); max_per_second raises it.
    return AcsChannel(connection_string, RateLimit(destination_key(endpoint), rate_of(receiver, 0.5)))
