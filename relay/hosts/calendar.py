"""`GET /api/calendar.ics?receiver=NAME`, the same for the Function and `relay serve`: the receiver's calendar
(relay.calendar.feed) with its ETag, 304 when the caller has it already, a problem (RFC 9457) otherwise."""
from __future__ import annotations

from dataclasses import dataclass, field

from relay.calendar.feed import CalendarFeed, NoCalendar, ReceiverNeeded
from relay.hosts.intake import problem

CALENDAR = "/api/calendar.ics"
ICS = "text/calendar"  # with charset=utf-8


@dataclass(frozen=True)
class CalendarReply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def calendar_reply(feed: CalendarFeed, receiver: str | None, if_none_match: str | None) -> CalendarReply:
    try:
        found = feed.file(receiver)
    except NoCalendar as e:
        refusal = problem(400 if isinstance(e, ReceiverNeeded) else 404, "No such calendar", str(e))
        return CalendarReply(refusal.status, refusal.encoded(), refusal.content_type, refusal.headers)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache"}
    if matches(if_none_match, found.etag):
        return CalendarReply(304, b"", ICS, headers)
    return CalendarReply(200, found.body, ICS, headers)


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match holds `etag` (or *); compared weakly, as RFC 9110 §13.1.2 has it."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
