"""The message of `relay send-test RECEIVER`: proves a destination works, asks nothing of its reader."""
from __future__ import annotations

from datetime import datetime

from relay.model import ConnectionTest, Enriched, Notification, Receiver
from relay.notices import notice_event


def connection_test(receiver: Receiver, now: datetime) -> Notification:
    event = notice_event(ConnectionTest(receiver=receiver.name, at=now), f"send-test-{now.timestamp():.0f}", now)
    return Notification(Enriched(event=event, now=now, lookup="none"))
