"""HTTP for the channels: one POST (or GET, or PUT), one reading of the answer, one check of the URL.

    try:
        response = post(url, body, {"Content-Type": "application/json"}, timeout=10)  # any status comes back
    except NETWORK_ERRORS as e:
        return network_failure(e, "Graph")                       # timeouts, refused, dropped: retryable
    if not response.ok:
        return failure(response.status, response.headers, "Graph")  # 408/429/5xx retryable, with Retry-After

408, 429 and 5xx may succeed later (with Retry-After, in seconds or as an HTTP date); any other
error status will not. Nothing here ever puts a URL, a header or an exception's text into a result.
"""
from __future__ import annotations

import http.client
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from relay.channels import ChannelUnavailable, checked_url
from relay.model import SendResult

DEFAULT_TIMEOUT = 10.0
NETWORK_ERRORS = (OSError, http.client.HTTPException)  # refused, reset, dropped, timed out, TLS
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would resend the payload (or drop it), and would
    take a bearer token to wherever it points."""

    def redirect_request(self, *args, **kwargs):
        return None


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT,
         context: ssl.SSLContext | None = None) -> Response:
    """POST once, without following redirects. Every HTTP status comes back as a Response;
    a failure below HTTP raises one of NETWORK_ERRORS."""
    return _once(urllib.request.Request(url, data=body, headers=dict(headers), method="POST"), timeout, context)


def get(url: str, headers: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT,
        context: ssl.SSLContext | None = None) -> Response:
    """GET once, as post() posts."""
    return _once(urllib.request.Request(url, headers=dict(headers)), timeout, context)


def put(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT,
        context: ssl.SSLContext | None = None) -> Response:
    """PUT once, as post() posts."""
    return _once(urllib.request.Request(url, data=body, headers=dict(headers), method="PUT"), timeout, context)


def _once(request: urllib.request.Request, timeout: float, context: ssl.SSLContext | None) -> Response:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers.items()), answer.read())
    except urllib.error.HTTPError as e:
        with e:
            return Response(e.code, dict(e.headers.items()) if e.headers else {}, e.read())


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever case the server or the SDK spelled its name in."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date. None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def failure(status: int, headers: Mapping[str, str] | None = None, detail: str = "") -> SendResult:
    """The result of an error answer: retryable (with its Retry-After) for 408, 429 and 5xx, final otherwise."""
    reason = http.client.responses.get(status, "")
    text = f"HTTP {status} {reason}".strip()
    text = f"{detail}: {text}" if detail else text
    if not is_retryable(status):
        return SendResult.failed(text, retryable=False)
    wait = retry_after(header(headers, "Retry-After"))
    if wait is not None:
        text += f" (retry after {wait:g} s)"
    return SendResult.failed(text, retryable=True, retry_after=wait)


def refused(response: Response, what: str, secrets: tuple[str, ...] = (),
            hints: Mapping[int, str] | None = None) -> SendResult:
    """failure() of an error answer, `what` followed by its error code (never one holding `secrets`), and the hint
    for its status, if `hints` has one."""
    code = error_code(response.body, secrets)
    result = failure(response.status, response.headers, f"{what}: {code}" if code else what)
    hint = (hints or {}).get(response.status)
    return replace(result, detail=f"{result.detail}; {hint}") if hint else result


def network_failure(error: BaseException, detail: str = "") -> SendResult:
    """No HTTP answer. Retryable, except a certificate the client does not trust (a retry will not fix it)."""
    cause = error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException) else error
    prefix = f"{detail}: " if detail else ""
    if isinstance(cause, ssl.SSLCertVerificationError):
        return SendResult.failed(f"{prefix}the server's TLS certificate is not trusted", retryable=False)
    if isinstance(cause, TimeoutError):  # socket.timeout is TimeoutError
        what = "no answer in time (timeout)"
    elif isinstance(cause, ConnectionRefusedError):
        what = "connection refused"
    elif isinstance(cause, ConnectionError | http.client.HTTPException):
        what = f"connection dropped ({type(cause).__name__})"
    else:
        what = f"network error ({type(cause).__name__})"
    # Refused, nothing reached the destination; otherwise it may have taken the message before the line went quiet.
    return SendResult.failed(prefix + what, retryable=True, unknown=not isinstance(cause, ConnectionRefusedError))


_CODE = re.compile(r"[A-Za-z0-9_.,:;'()\- ]{1,120}")  # no '/', '?', '=', '@', '&': never a URL or a query


def error_code(body: bytes | str, secrets: tuple[str, ...] = ()) -> str | None:
    """A short, safe error code from an error answer: JSON `error.code` or `error`, or a one-line text body.
    None when there is none, or when it looks like a URL or holds one of `secrets` (a server may echo them)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        text = str(err.get("code", "")) if isinstance(err, dict) else str(err or "")
    if not _CODE.fullmatch(text) or "://" in text or any(s and s in text for s in secrets):
        return None
    return text


def require_https(url: str, receiver: str, where: str) -> None:
    """Refuse anything but an https:// URL with a valid host and port (http:// only to this machine, for
    tests). `where` names the place the URL came from ("environment variable TEAMS_URL"); the URL itself is
    never echoed."""
    try:
        parts = checked_url(url)
    except ValueError as e:
        raise ChannelUnavailable(f"receiver {receiver!r}: {where} does not hold a valid URL: {e}") from None
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return
    raise ChannelUnavailable(f"receiver {receiver!r}: the URL in {where} must start with https://"
                             " (http:// is accepted only for 127.0.0.1 and localhost)")
