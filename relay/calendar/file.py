"""Entries → an RFC 5545 iCalendar file, written by the icalendar package, as Outlook and Google import it
(docs/configure.md#maintenance-in-the-calendar has the rules and their sources):

- CRLF line endings, lines folded at 75 octets without splitting a character (icalendar's writer);
- every time with TZID=Asia/Tokyo, and its VTIMEZONE: one STANDARD observance (Japan has no daylight time),
  which is all Outlook reads of a time zone, without the COMMENT icalendar adds (RFC 5545 allows none there);
- the calendar's own properties before its components: Outlook ignores those that come after;
- METHOD:PUBLISH; each entry TRANSP:TRANSPARENT (a deadline or a window blocks no one's time).

Every entry is written once per language set and kept (ENTRY_CACHE): a feed of a thousand maintenance events
is mostly the entries it had last time, and writing them is most of its cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from functools import cache, lru_cache

from icalendar import Calendar, Event, Timezone

from relay.calendar.entries import Entry, Maintenance, entries
from relay.model import Receiver
from relay.render import times
from relay.render.markup import environment

PRODID = "-//Azure Maintenance Relay//Maintenance calendar//EN"
TZID = "Asia/Tokyo"
ENTRY_CACHE = 8192  # entries kept written, in each language set
_END = b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class CalendarFile:
    """A calendar file as an email attaches it."""

    filename: str
    data: bytes


def calendar_file(found: tuple[Entry, ...], receiver: str, langs: tuple[str, ...]) -> bytes:
    """The entries as one iCalendar file, named for the receiver."""
    return _head(receiver, langs) + b"".join(_event(entry, langs) for entry in found) + _END


def calendar_attachment(maintenance: Maintenance, receiver: Receiver, langs: tuple[str, ...], stem: str) -> CalendarFile | None:
    """The receiver's entries of one maintenance as an attachment; None when it has none (or wants none)."""
    found = entries(maintenance, receiver.name, receiver.calendar)
    return CalendarFile(f"{stem}.ics", calendar_file(found, receiver.name, langs)) if found else None


def _macros():
    return environment("text").get_template("calendar/entry.j2").module


def _each(macro, value, langs: tuple[str, ...], separator: str) -> str:
    return separator.join(str(macro(value, lang)).strip() for lang in langs)


@cache
def _timezone() -> Timezone:
    zone = Timezone.from_tzid(TZID)
    zone.pop("COMMENT", None)
    return zone


@lru_cache(maxsize=256)
def _head(receiver: str, langs: tuple[str, ...]) -> bytes:
    """The calendar up to its entries: its properties, then the VTIMEZONE."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", _each(_macros().calendar_name, receiver, langs, " / "))
    calendar.add_component(_timezone())
    written = calendar.to_ical()
    return written[:-len(_END)]


@lru_cache(maxsize=ENTRY_CACHE)
def _event(entry: Entry, langs: tuple[str, ...]) -> bytes:
    macros = _macros()
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", entry.stamp.astimezone(UTC))
    event.add("dtstart", times.to_jst(entry.start))
    event.add("dtend", times.to_jst(entry.end))
    event.add("sequence", entry.sequence)
    event.add("status", "CANCELLED" if entry.cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("summary", _each(macros.summary, entry, langs, " / "))
    event.add("description", _each(macros.description, entry, langs, "\n\n"))
    if entry.link:
        event.add("url", entry.link)
    return event.to_ical()
