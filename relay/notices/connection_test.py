"""The message of `relay send-test RECEIVER`: proves a destination works, asks nothing of its reader."""
from __future__ import annotations

from datetime import datetime

from relay.model import ConnectionTest, Enriched, Event, EventKind, Notification, Receiver


def connection_test(receiver: Receiver, now: datetime) -> Notification:
    event = Event(
        kind=EventKind.RELAY,
        schema="test",
        title="",
        communication="",
        event_data_id=f"send-test-{now.timestamp():.0f}",
        event_time=now,
        notice=ConnectionTest(receiver=receiver.name, at=now),
    )
    return Notification(Enriched(event=event, now=now, lookup="none"))
