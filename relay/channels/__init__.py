"""Channels: how a rendered message leaves the relay. One small interface for all of them.

A channel answers every send with a SendResult: delivered, or failed with whether a retry may help
and how long to wait. Channels never sleep or retry; the pipeline paces and retries, using the
channel's `limit` (how fast its destination may be called).

Each transport lives in its own module with `from_receiver(receiver, environ, threads) -> Channel`;
a module is imported only when a receiver uses it, so an unused SDK costs nothing at start. A transport
that reads a secret from an environment variable also has `destination(receiver, environ)`, the check of
that secret its `from_receiver` makes, which `relay config check` asks too.
"""
from __future__ import annotations

import hashlib
import importlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from relay.model import Acknowledgement, Message, Receiver, SendResult

TRANSPORTS = {
    "teams": "relay.channels.teams",
    "slack": "relay.channels.slack",  # incoming webhook
    "slack-bot": "relay.channels.slack",  # bot token: threads and updates
    "teams-bot": "relay.channels.teams_bot",  # a bot in a Teams channel: threads, its first card kept current
    "smtp": "relay.channels.smtp",
    "graph": "relay.channels.graph",
    "acs": "relay.channels.acs",
}
_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)")  # one part of a host name: letters, digits, '-', '_'


@dataclass(frozen=True)
class RateLimit:
    """How fast one destination may be called. `key` names the destination without revealing it. Calls are spaced
    1 / per_second apart, and where a destination documents limits over longer windows (Teams bots: 60 in 30 s,
    1,800 in an hour), no window ever holds more than its count: (count, seconds) each."""

    key: str
    per_second: float
    windows: tuple[tuple[int, float], ...] = ()


class Channel(Protocol):
    @property
    def limit(self) -> RateLimit | None: ...

    def send(self, message: Message) -> SendResult: ...


class Checkable(Protocol):
    """A channel whose destination can say whether it already has a message: it marks each message it sends
    with `message.attempt.delivery_id`, and finds that mark again. The pipeline asks before sending again after an
    unknown outcome (a crash between the send and the ledger's mark, or a send that got no answer), so such a
    destination gets each message exactly once."""

    @property
    def lookup_limit(self) -> RateLimit | None:
        """How fast the lookups may be made (their API's own rate limit), paced apart from the sends."""

    def find(self, message: Message) -> SendResult | None:
        """Whether the destination has the message marked with `message.attempt`: SendResult.delivered (with
        its reference) when it has; None when it has not, so sending is safe; SendResult.failed (retryable, with a
        wait) when it cannot tell yet."""


class ThreadStore(Protocol):
    """Where a channel keeps the first message of each thread (e.g. a Slack ts, a Teams conversation), per
    receiver, and who said they are on it (the Teams bot's 対応します / I'm on it button)."""

    def thread_reference(self, thread_key: str, receiver: str) -> str | None: ...

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None: ...

    def acknowledgements(self, thread_key: str, receiver: str) -> list[Acknowledgement]: ...


class ChannelUnavailable(ValueError):
    """A receiver's transport cannot be set up: a missing variable, a refused URL, a missing package."""


def destination_key(secret: str) -> str:
    """A stable, non-secret name for a destination (for rate limits and logs)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def secret_from(receiver: Receiver, environ: Mapping[str, str]) -> str:
    """The receiver's destination (URL, token, connection string) from the environment variable it names."""
    name = receiver.destination_env
    value = environ.get(name or "", "").strip()
    if not value:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: environment variable {name} is not set")
    return value


def checked_url(url: str) -> SplitResult:
    """The URL's parts, once its host is a name or an IP address and its port, if any, is 1 to 65535.
    Raises ValueError saying what is wrong, never repeating the URL: it may hold a secret."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("the URL has a space or a control character in it; remove it")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a valid URL; check its host (an IPv6 address goes in [ ])") from None
    if not parts.scheme or not host:
        raise ValueError("the URL names no host; write the whole URL, from its scheme (like https://) on")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError("the port after the host must be a number from 1 to 65535")
    if not _is_ip(host) and not _is_host_name(host):
        raise ValueError("the host must be a host name or an IP address")
    return parts


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_host_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def check_destination(receiver: Receiver, environ: Mapping[str, str]) -> None:
    """Raise ChannelUnavailable when the secret in the receiver's variable cannot work: the check its channel
    makes when it is built, without building it."""
    importlib.import_module(TRANSPORTS[receiver.transport]).destination(receiver, environ)


def rate_of(receiver: Receiver, default: float) -> float:
    return float(receiver.options.get("max_per_second", default))


def channel_for(receiver: Receiver, outbox: Path, threads: ThreadStore, environ: Mapping[str, str]) -> Channel:
    if receiver.transport == "outbox":
        from relay.channels.outbox import OutboxChannel

        return OutboxChannel(outbox)
    if receiver.transport == "outbox-bot":  # the outbox standing in for a Teams bot: a folder a thread
        from relay.channels.outbox_thread import ThreadOutboxChannel

        return ThreadOutboxChannel(outbox)
    module = TRANSPORTS.get(receiver.transport)
    if module is None:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: unknown transport {receiver.transport!r}")
    return importlib.import_module(module).from_receiver(receiver, environ=environ, threads=threads)
