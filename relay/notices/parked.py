"""The notice of an alert the relay gave up on: what the alert was, how often it was tried, and why."""
from __future__ import annotations

from datetime import datetime

from relay.alerts import PayloadError, parse_alert
from relay.model import Event, ParkedAlert
from relay.notices import notice_event


def describe(body: bytes) -> str | None:
    """One line that names the alert (kind, trackingId, stage, title), or None if it does not parse."""
    try:
        event = parse_alert(body)
    except PayloadError:
        return None
    parts = [event.kind.value, event.tracking_id, event.stage or event.status, event.title]
    return " · ".join(p for p in parts if p)


def parked_notice(item_id: str, body: bytes, attempts: int, reason: str | None, now: datetime) -> Event:
    """`reason` None: the parking side did not say (the Functions host never does)."""
    notice = ParkedAlert(item_id=item_id, alert=describe(body), attempts=attempts, reason=reason, at=now)
    return notice_event(notice, f"poison-{item_id}", now)
