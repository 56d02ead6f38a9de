"""A receiver's quiet hours (relay.model.QuietSpan, in JST): is a moment inside them, and when do they end.

Each day is read on its own: a span 22:00-08:00 on Monday makes Monday 00:00-08:00 and 22:00-24:00 quiet.
A quiet part's start is quiet, its end is not. Japan has no daylight saving time, so a JST day is always 24
hours.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from relay.model import QuietSpan
from relay.render.times import to_jst

_WEEK = timedelta(days=7)


def quiet_at(spans: Sequence[QuietSpan], when: datetime) -> bool:
    return _quiet_end(spans, when) is not None


def quiet_until(spans: Sequence[QuietSpan], when: datetime) -> datetime:
    """The first moment at or after `when` that is not quiet (UTC): `when` itself when it is not, else the end
    of the quiet part it is in or, when another goes on from there, of the last one of that chain."""
    until = when
    while (end := _quiet_end(spans, until)) is not None:
        if end - when >= _WEEK:
            raise ValueError("the quiet hours cover the whole week: they never end")
        until = end.astimezone(UTC)
    return until


def _quiet_end(spans: Sequence[QuietSpan], when: datetime) -> datetime | None:
    """The latest end of the quiet parts `when` is in; None when it is in none."""
    local = to_jst(when)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = (local - midnight) / timedelta(minutes=1)
    ends = [midnight + timedelta(minutes=end) for span in spans if local.weekday() in span.days
            for start, end in span.minutes() if start <= minute < end]
    return max(ends, default=None)
