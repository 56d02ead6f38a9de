"""The relay's own notices: events of kind RELAY that carry what happened as data (relay.model's
ParkedAlert, ConnectionTest, SelfServiceRun), worded at render time by templates/notices/.

    parked.py           an accepted alert the relay gave up on
    connection_test.py  the message of `relay send-test`

The notices of `relay maintain start` are built by relay.maintain.notice, beside the run they describe.
"""
from __future__ import annotations

from datetime import datetime

from relay.model import Event, EventKind, RelayNotice


def notice_event(notice: RelayNotice, key: str, at: datetime, **fields) -> Event:
    """The event that carries a notice through the pipeline: `key` (its eventDataId) makes it one
    communication in the ledger; `fields` may give it a thread (tracking_id) or a file name (status)."""
    return Event(kind=EventKind.RELAY, schema="relay", title="", communication="", event_data_id=key, event_time=at,
                 notice=notice, **fields)
