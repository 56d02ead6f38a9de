"""Channels: how a rendered message leaves the relay. One small interface for all of them.

A channel answers every send with a SendResult: delivered, or failed with whether a retry may help
and how long to wait. Channels never sleep or retry; the pipeline does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..model import Message, Receiver, SendResult


class Channel(Protocol):
    def send(self, message: Message) -> SendResult: ...


class ChannelUnavailable(ValueError):
    """A receiver asks for a transport this build cannot use."""


def channel_for(receiver: Receiver, outbox: Path) -> Channel:
    if receiver.transport == "outbox":
        from .outbox import OutboxChannel

        return OutboxChannel(outbox)
    raise ChannelUnavailable(
        f"receiver {receiver.name!r}: sending to {receiver.transport} directly is not available in this version;"
        f" use channel: outbox with format: {receiver.channel} to write its messages to files"
    )
