"""Channels: how a rendered message leaves the relay. One small interface for all of them.

A channel answers every send with a SendResult: delivered, or failed with whether a retry may help
and how long to wait. Channels never sleep or retry; the pipeline paces and retries, using the
channel's `limit` (how fast its destination may be called).

Each transport lives in its own module with `from_receiver(receiver, environ, threads) -> Channel`;
a module is imported only when a receiver uses it, so an unused SDK costs nothing at start.
"""
from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from relay.model import Message, Receiver, SendResult

TRANSPORTS = {
    "teams": "relay.channels.teams",
    "slack": "relay.channels.slack",  # incoming webhook
    "slack-bot": "relay.channels.slack",  # bot token: threads and updates
    "smtp": "relay.channels.smtp",
    "graph": "relay.channels.graph",
    "acs": "relay.channels.acs",
}


@dataclass(frozen=True)
class RateLimit:
    """How fast one destination may be called. `key` names the destination without revealing it."""

    key: str
    per_second: float


class Channel(Protocol):
    @property
    def limit(self) -> RateLimit | None: ...

    def send(self, message: Message) -> SendResult: ...


class ThreadStore(Protocol):
    """Where a channel keeps the first message of each thread (e.g. a Slack ts), per receiver."""

    def thread_reference(self, thread_key: str, receiver: str) -> str | None: ...

    def remember_thread(self, thread_key: str, receiver: str, reference: str) -> None: ...


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


def rate_of(receiver: Receiver, default: float) -> float:
    return float(receiver.options.get("max_per_second", default))


def channel_for(receiver: Receiver, outbox: Path, threads: ThreadStore, environ: Mapping[str, str]) -> Channel:
    if receiver.transport == "outbox":
        from relay.channels.outbox import OutboxChannel

        return OutboxChannel(outbox)
    module = TRANSPORTS.get(receiver.transport)
    if module is None:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: unknown transport {receiver.transport!r}")
    return importlib.import_module(module).from_receiver(receiver, environ=environ, threads=threads)
