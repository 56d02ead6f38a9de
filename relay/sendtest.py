"""`relay send-test RECEIVER`: one short bilingual message through a configured receiver, once, with
exactly what came back — the first thing to run after deploying or changing a destination."""
from __future__ import annotations

from datetime import datetime

from .channels import Channel
from .model import Enriched, Event, EventKind, Notification, Receiver, SendResult
from .render import render
from .render.markup import macros, plain


def test_notification(receiver: Receiver, now: datetime) -> Notification:
    wording = macros("text", "common/send_test.j2")
    event = Event(
        kind=EventKind.RELAY,
        schema="test",
        title=plain(wording.title()),
        communication=plain(wording.body(receiver.name, now)),
        event_data_id=f"send-test-{now.timestamp():.0f}",
        event_time=now,
    )
    return Notification(Enriched(event=event, now=now, lookup="none"))


def send_test(receiver: Receiver, channel: Channel, now: datetime) -> SendResult:
    """Render and send once: no ledger, no retries, so the answer is the destination's own."""
    message = render(test_notification(receiver, now), receiver)
    try:
        return channel.send(message)
    except Exception as e:  # report it like any failed send; the text may hold a secret
        return SendResult.failed(f"channel error: {type(e).__name__}", retryable=True)
