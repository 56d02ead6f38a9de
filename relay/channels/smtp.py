"""Email over SMTP, from a URL in the environment variable the receiver names.

    smtp://[user:password@]host[:port]     STARTTLS, required (port 587 unless given)
    smtps://[user:password@]host[:port]    implicit TLS (port 465)
    ?starttls=off                          plain SMTP, for a relay without TLS; refused with a login
    ?verify=off                            skip certificate checks; only for a loopback host

The message goes out as rendered (`Message.body`, a complete RFC 5322 message); the envelope sender
and recipients come from its From, To and Cc headers. SMTP 4xx replies, lost connections and timeouts
may pass on a retry; 5xx replies (unknown recipient, failed login) will not.
"""
from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote

from relay.channels import ChannelUnavailable, RateLimit, checked_url, destination_key, rate_of, secret_from
from relay.model import Message, Receiver, SendResult

TIMEOUT_SECONDS = 20.0
_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
_FLAGS = ("starttls", "verify")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = True
    verify: bool = True
    user: str | None = None
    password: str | None = None

    @property
    def tls(self) -> bool:
        return self.implicit_tls or self.starttls


def parse_url(url: str) -> SmtpServer:
    """The server a URL names. Errors never repeat the URL: it may hold a password."""
    parts = checked_url(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("the URL must start with smtp:// or smtps://")
    query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - set(_FLAGS))
    if unknown or any(value not in ("on", "off") for value in query.values()):
        raise ValueError(f"the URL accepts only starttls=on|off and verify=on|off (got {', '.join(query) or '-'})")
    server = SmtpServer(
        host=str(parts.hostname),
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        starttls=parts.scheme == "smtp" and query.get("starttls") != "off",
        verify=query.get("verify") != "off",
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
    if server.user and not server.tls:
        raise ValueError("a login needs TLS: remove starttls=off, or use smtps://")
    if not server.verify and not _is_loopback(server.host):
        raise ValueError("verify=off is allowed only for a loopback host")
    return server


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def envelope(body: bytes) -> tuple[str, list[str]]:
    """(sender, recipients) from the message's own headers."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(body)
    sender = [addr for _, addr in getaddresses([str(headers.get("From", ""))]) if addr]
    recipients = [addr for _, addr in getaddresses([str(v) for k in ("To", "Cc") for v in headers.get_all(k, [])])
                  if addr]
    if not sender or not recipients:
        raise ValueError("the message has no From or no To address")
    return sender[0], list(dict.fromkeys(recipients))


class SmtpChannel:
    def __init__(self, server: SmtpServer, limit: RateLimit | None = None, timeout: float = TIMEOUT_SECONDS):
        self.server = server
        self.limit = limit
        self.timeout = timeout

    def send(self, message: Message) -> SendResult:
        if message.content_type != "message/rfc822":
            return SendResult.failed(f"SMTP sends email only, not {message.content_type}", retryable=False)
        try:
            sender, recipients = envelope(message.body)
        except ValueError as e:
            return SendResult.failed(str(e), retryable=False)
        try:
            refused = self._deliver(sender, recipients, message.body)
        except Exception as e:  # every failure becomes a SendResult; the text is scrubbed of the password
            return self._scrub(_classify(e))
        if refused:
            # Others already have it: a retry would send them a second copy.
            codes = ", ".join(sorted({str(code) for code, _ in refused.values()}))
            detail = f"sent; {len(refused)} of {len(recipients)} recipient(s) refused ({codes})"
            return self._scrub(SendResult.delivered(detail))
        return SendResult.delivered(f"sent to {len(recipients)} recipient(s)")

    def _deliver(self, sender: str, recipients: list[str], body: bytes) -> dict:
        s = self.server
        context = ssl.create_default_context() if s.tls else None
        if context is not None and not s.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client: smtplib.SMTP
        if s.implicit_tls:
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if s.starttls:
                if not client.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
                client.starttls(context=context)
                client.ehlo()
            if s.user:
                client.login(s.user, s.password or "")
            return client.sendmail(sender, recipients, body)

    def _scrub(self, result: SendResult) -> SendResult:
        password = self.server.password
        if password and password in result.detail:
            return SendResult(result.ok, result.retryable, result.retry_after, result.detail.replace(password, "***"))
        return result


def _reply(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())[:200]}"


def _classify(e: Exception) -> SendResult:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        replies = list(e.recipients.values())
        temporary = any(400 <= code < 500 for code, _ in replies)
        return SendResult.failed(f"SMTP refused every recipient: {_reply(*replies[0])}", retryable=temporary)
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return SendResult.failed(f"SMTP login failed: {_reply(e.smtp_code, e.smtp_error)}",
                                 retryable=400 <= e.smtp_code < 500)
    if isinstance(e, smtplib.SMTPResponseException):
        return SendResult.failed(f"SMTP server answered {_reply(e.smtp_code, e.smtp_error)}",
                                 retryable=not 500 <= e.smtp_code < 600)
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return SendResult.failed(f"SMTP server cannot do what the URL asks: {e}", retryable=False)
    if isinstance(e, ssl.SSLCertVerificationError):
        return SendResult.failed(f"SMTP server certificate not trusted: {e.verify_message}", retryable=False)
    if isinstance(e, smtplib.SMTPServerDisconnected):  # smtplib reports a read timeout this way too
        if "timed out" in str(e):
            return SendResult.failed("SMTP server did not answer in time", retryable=True)
        return SendResult.failed("SMTP server closed the connection", retryable=True)
    if isinstance(e, smtplib.SMTPException):  # smtplib's own fixed texts, e.g. no usable AUTH method
        return SendResult.failed(f"SMTP error: {e}", retryable=False)
    if isinstance(e, TimeoutError):
        return SendResult.failed("SMTP server did not answer in time", retryable=True)
    if isinstance(e, OSError):
        return SendResult.failed(f"cannot reach the SMTP server: {type(e).__name__}", retryable=True)
    return SendResult.failed(f"SMTP error: {type(e).__name__}", retryable=True)


def destination(receiver: Receiver, environ: Mapping[str, str]) -> SmtpServer:
    """The server the URL in the receiver's variable names."""
    try:
        return parse_url(secret_from(receiver, environ))
    except ValueError as e:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: environment variable {receiver.destination_env}: {e}") from None


def from_receiver(receiver: Receiver, environ: Mapping[str, str], threads=None) -> SmtpChannel:
    server = destination(receiver, environ)
    return SmtpChannel(server, RateLimit(destination_key(server.host), rate_of(receiver, 5.0)))
