"""Email through Azure Communication Services (azure-communication-email), from the connection string
(`endpoint=https://….communication.azure.com/;accesskey=…`) in the variable the receiver names.

ACS takes JSON, not MIME: the rendered message is read back into subject, plain text, HTML,
recipients and attachments. `begin_send` queues it (HTTP 202); the channel then waits a bounded time
for the operation to finish. An operation that is still running when the wait ends was accepted and
counts as sent: sending it again could deliver it twice.

Exactly once (relay.channels.Checkable): a send of an attempt carries `Operation-Id: <attempt's GUID>`, so that its
operation can be looked up by an id the ledger keeps, and the repeatable-request headers `Repeatability-Request-Id:
<the same GUID>` and `Repeatability-First-Sent: <when the attempt began, IMF-fixdate>`. ACS tracks a repeatable
request for 5 minutes from its first send: a repeat in that time is not executed again but answered as the original
was (409 while the original is still in progress), and one later gets 412 (learn.microsoft.com/en-us/rest/api/
communication/repeatable-requests). azure-communication-email 1.1.0 adds none of these headers by itself (the REST
reference of 2025-09-01 lists only Operation-Id; the 2021-10-01-preview one had them), so they go out as set here.
After an unknown outcome, `find` asks for the operation by the kept id:
    GET /emails/operations/{id}?api-version=2025-09-01   200 {"id", "status"} | 404: ACS has no such operation
It asks at any age of the attempt, in the 5 minutes too: when find says None the pipeline sends a new attempt (a new
id), which the service would not take for a repeat of the earlier one.
"""
from __future__ import annotations

import base64
import binascii
import email
import logging
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from typing import TYPE_CHECKING

from relay.channels import ChannelUnavailable, RateLimit, checked_url, destination_key, http, rate_of, secret_from
from relay.model import Attempt, Message, Receiver, SendResult

if TYPE_CHECKING:
    from azure.communication.email import EmailClient

WAIT_SECONDS = 20.0  # for the queued send to finish
POLL_SECONDS = 1.0  # between status checks when ACS gives no Retry-After
TIMEOUT_SECONDS = 20.0  # for each HTTP request
API_VERSION = "2025-09-01"  # the SDK's; set on the client so that the status lookup asks the same version
# ACS allows 60 status checks a minute per subscription for custom domains (10 for Azure managed domains;
# learn.microsoft.com/azure/communication-services/concepts/service-limits). Each send polls its operation at least
# once, and sends go at up to 30 a minute: the other half is theirs.
LOOKUPS_PER_SECOND = 0.5
UNSENT = ("failed", "canceled")  # terminal operation statuses with which ACS sent nothing

log = logging.getLogger(__name__)


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
                 wait: float = WAIT_SECONDS, poll_interval: float = POLL_SECONDS,
                 lookup_limit: RateLimit | None = None):
        self._connection_string = connection_string
        self.limit, self.lookup_limit = limit, lookup_limit
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
                    polling_interval=self.poll_interval, api_version=API_VERSION,
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
        attempt = message.attempt
        operation_id, headers = (None, None) if attempt is None else (attempt.uuid, _repeatable(attempt))
        try:
            poller = client.begin_send(request, polling_interval=self.poll_interval, operation_id=operation_id,
                                       headers=headers)
        except HttpResponseError as e:
            if attempt is not None and e.status_code == 409:
                return SendResult.delivered("accepted by an earlier try; still running", reference=attempt.uuid)
            if attempt is not None and e.status_code == 412:  # sending again blindly could deliver it twice
                return SendResult.failed("ACS would not take a repeat of this email's first try: the 5-minute repeat"
                                         " window has passed (HTTP 412, or this machine's clock is off)",
                                         retryable=True, unknown=True)
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

    def find(self, message: Message) -> SendResult | None:
        """Whether ACS has the operation of a send of `message.attempt` (relay.channels.Checkable)."""
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        attempt = message.attempt
        if attempt is None:
            raise ValueError("find needs the attempt the message was sent with")
        request = HttpRequest("GET", f"/emails/operations/{attempt.uuid}", params={"api-version": API_VERSION})
        try:
            response = self.client().send_request(request)
        except AzureError as e:
            return _unreachable(e, "ACS status lookup")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            return _lookup_failed(response)
        try:
            status = str(response.json().get("status") or "Unknown")
        except Exception:  # an answer without a readable body: the operation is there all the same
            status = "Unknown"
        if status.lower() in UNSENT:
            # ACS took the email and sent nothing; send treats such an operation as one to send again, so a new
            # attempt may go: it is no second copy.
            log.warning("the earlier try of %s to %s ended %s at ACS%s; sending it again", message.notification_key,
                        message.receiver.name, status, _code_of(response))
            return None
        return SendResult.delivered(f"found at ACS: {status}", reference=attempt.uuid)


def _repeatable(attempt: Attempt) -> dict[str, str]:
    """The OASIS repeatable-request headers of an attempt: one id and one first-sent time for all its sends."""
    return {"Repeatability-Request-Id": attempt.uuid,
            "Repeatability-First-Sent": format_datetime(attempt.first_sent, usegmt=True)}


def _code(e) -> str:
    """ACS's error code from `{"error": {"code": …}}`, never its message; "" when there is none."""
    return _code_of(e.response) if e.response is not None else ""


def _code_of(response) -> str:
    try:
        code = http.error_code(response.text())
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


def _lookup_failed(response) -> SendResult:
    status = response.status_code
    retryable = http.is_retryable(status)
    after = http.retry_after(http.header(response.headers, "Retry-After")) if retryable else None
    return SendResult.failed(f"ACS status lookup: HTTP {status}{_code_of(response)}", retryable, after)


def _operation_failed(e) -> SendResult:
    try:
        status = e.response.json().get("status") or "Failed"
    except Exception:
        status = "Failed"
    return SendResult.failed(f"ACS could not send the email: {status}{_code(e)}", retryable=True)


def _unreachable(e, what: str = "ACS") -> SendResult:
    """No answer. Unknown unless the request surely never left (azure-core's ServiceRequestError: refused,
    a connect timeout, TLS): ACS may have taken it before the line went quiet."""
    from azure.core.exceptions import ServiceRequestError

    cause, seen = e, set()
    while cause is not None and id(cause) not in seen:  # azure-core → requests → urllib3 → ssl
        if isinstance(cause, ssl.SSLCertVerificationError):  # will not pass by retrying
            return SendResult.failed(f"{what}: the endpoint's TLS certificate is not trusted", retryable=False)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__ or getattr(cause, "inner_exception", None)
    return SendResult.failed(f"{what}: unreachable ({type(e).__name__})", retryable=True,
                             unknown=not isinstance(e, ServiceRequestError))


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
    lookups = float(receiver.options.get("lookup_per_second", LOOKUPS_PER_SECOND))
    return AcsChannel(connection_string, RateLimit(destination_key(endpoint), rate_of(receiver, 0.5)),
                      lookup_limit=RateLimit(destination_key(f"{endpoint}:lookup"), lookups))
