"""What follows Azure's notices and what waits for the reader: the `reminders:` before deadlines, the
`urgent:` messages that go out at once, and each receiver's `quiet_hours:` (read with the receiver, by
relay.config.receivers). The sections are shown in relay.config; relay.hold and relay remind act on them."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time, timedelta

from relay.config.checks import shown, unknown, words
from relay.model import QuietSpan, Receiver

URGENT_REASONS = ("scheduled_event", "emergency_maintenance", "emergency_incident", "deadline")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # 0 Monday … 6 Sunday, as date.weekday()

_REMINDER_KEYS = {"deadline", "reboot", "all_done", "receivers"}
_URGENT_KEYS = {"reasons", "deadline_within"}
_SPAN_KEYS = {"days", "from", "to"}
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$", re.IGNORECASE)
_LONGEST = timedelta(days=60)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


@dataclass(frozen=True)
class ReminderSettings:
    """Reminders between Azure's notices: how long before each moment (largest first; (): none), and to whom."""

    deadline: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1), timedelta(hours=4))  # self-service
    reboot: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))  # Azure's reboot window opening
    all_done: bool = True  # one note when a receiver's last VM is done
    receivers: tuple[str, ...] | None = None  # None: every receiver whose audience is oncall; (): none

    def reminded(self, receivers: Iterable[Receiver]) -> list[str]:
        """The names of the receivers that get reminders, of these."""
        if not (self.deadline or self.reboot or self.all_done):
            return []
        if self.receivers is None:
            return [r.name for r in receivers if r.audience == "oncall"]
        return [r.name for r in receivers if r.name in self.receivers]


@dataclass(frozen=True)
class UrgentSettings:
    """What goes out at once even in a receiver's quiet hours."""

    reasons: frozenset[str] = frozenset(URGENT_REASONS)
    deadline_within: timedelta = timedelta(hours=24)  # reason deadline: a self-service deadline or reboot this close


def parse_reminders(raw: object, names: list[str], problems: list[str]) -> ReminderSettings:
    """The `reminders:` section (absent: the defaults), its receivers checked against `names`."""
    defaults = ReminderSettings()
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        problems.append("reminders: a mapping with deadline, reboot, all_done and receivers")
        return defaults
    problems += unknown(raw, _REMINDER_KEYS, "reminders.")
    deadline = _offsets(raw["deadline"], "reminders.deadline", problems) if "deadline" in raw else defaults.deadline
    reboot = _offsets(raw["reboot"], "reminders.reboot", problems) if "reboot" in raw else defaults.reboot
    all_done = raw.get("all_done", defaults.all_done)
    if not isinstance(all_done, bool):
        problems.append("reminders.all_done: true (one note when a receiver's last VM is done) or false")
    receivers = _receivers(raw["receivers"], names, problems) if "receivers" in raw else defaults.receivers
    return ReminderSettings(deadline, reboot, all_done is True, receivers)


def parse_urgent(raw: object, problems: list[str]) -> UrgentSettings:
    """The `urgent:` section (absent: the defaults)."""
    defaults = UrgentSettings()
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        problems.append("urgent: a mapping with reasons and deadline_within")
        return defaults
    problems += unknown(raw, _URGENT_KEYS, "urgent.")
    value = raw.get("reasons", list(URGENT_REASONS))
    if value is None:  # words() reads nothing as no words; here it is a slip
        problems.append(f"urgent.reasons: a list of {', '.join(URGENT_REASONS)}; [] for none")
    reasons = () if value == [] else words(value, URGENT_REASONS, "urgent.reasons", problems)
    within = (_duration(raw["deadline_within"], "urgent.deadline_within", problems) if "deadline_within" in raw
              else None)
    return UrgentSettings(frozenset(reasons), within or defaults.deadline_within)


def duration(text: object) -> timedelta | None:
    """A span of time written 30m, 4h, 3d or 1w (as the config and `relay silence` take it); None when `text` is
    not one."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    return int(match[1]) * _UNITS[match[2].lower()] if match else None


def _duration(value: object, where: str, problems: list[str]) -> timedelta | None:
    """A duration (see duration), above nothing and at most 60 days; None when it is not one."""
    span = duration(value)
    if span is None:
        problems.append(f"{where}: a duration like 30m, 4h, 3d or 1w (got {shown(value)})")
        return None
    if not timedelta(0) < span <= _LONGEST:
        problems.append(f"{where}: more than 0 and at most 60 days (got {shown(value)})")
        return None
    return span


def _offsets(value: object, where: str, problems: list[str]) -> tuple[timedelta, ...]:
    """How long before a moment: one duration or a list of them, each once, largest first."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        problems.append(f"{where}: how long before, like 4h, or a list like [3d, 1d, 4h]; [] for none"
                        f" (got {shown(value)})")
        return ()
    written: dict[timedelta, object] = {}
    for i, item in enumerate(items):
        at = where if isinstance(value, str) else f"{where}[{i}]"
        offset = _duration(item, at, problems)
        if offset is not None and offset in written:
            same = "written twice" if item == written[offset] else f"the same time as {shown(written[offset])}"
            problems.append(f"{at}: {shown(item)} is {same}; write each time once")
        elif offset is not None:
            written[offset] = item
    return tuple(sorted(written, reverse=True))


def _receivers(value: object, names: list[str], problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        problems.append("reminders.receivers: a list of receiver names, like [platform]; [] for none")
        return ()
    problems += [f"reminders.receivers[{i}]: no receiver is named {n!r}; there are: {', '.join(names)}"
                 for i, n in enumerate(value) if n not in names]
    return tuple(value)


def parse_quiet_hours(value: object, where: str, problems: list[str]) -> tuple[QuietSpan, ...]:
    """A receiver's `quiet_hours:` (`where` names it), JST: a list of spans, each on some days, from a time to
    a time (when it is not later, the two ends of the day) or the whole day. Never the whole week."""
    if not isinstance(value, list):
        problems.append(f'{where}: a list of spans like {{days: mon-fri, from: "22:00", to: "08:00"}}, in JST'
                        f" (got {shown(value)})")
        return ()
    before = len(problems)
    spans = tuple(span for i, item in enumerate(value) if (span := _span(item, f"{where}[{i}]", problems)))
    if len(problems) == before and _always_quiet(spans):
        problems.append(f"{where}: a receiver that is always quiet would never hear anything but urgent messages;"
                        " remove quiet_hours or leave some hours open")
    return spans


def _span(item: object, where: str, problems: list[str]) -> QuietSpan | None:
    if not isinstance(item, dict):
        problems.append(f'{where}: a mapping with days, and from and to, like {{days: mon-fri, from: "22:00",'
                        ' to: "08:00"}; without from and to, the whole day')
        return None
    before = len(problems)
    problems += unknown(item, _SPAN_KEYS, f"{where}.")
    days = _days(item.get("days"), f"{where}.days", problems)
    if ("from" in item) != ("to" in item):
        problems.append(f"{where}.{'from' if 'to' in item else 'to'}: write from and to together,"
                        " or neither for the whole day")
    start = _minutes(item.get("from", "00:00"), f"{where}.from", _DAY_MINUTES - 1, "22:00", problems)
    end = _minutes(item.get("to", "24:00"), f"{where}.to", _DAY_MINUTES, "08:00", problems)
    if start is not None and start == end:
        problems.append(f"{where}.to: the same time as from; leave both out for the whole day")
    if len(problems) > before or start is None or end is None:
        return None
    return QuietSpan(days, _clock(start), _clock(end % _DAY_MINUTES))


def _days(value: object, where: str, problems: list[str]) -> frozenset[int]:
    """Days as a list or a string, each a day (mon) or a range of days (mon-fri; fri-mon goes over the weekend)."""
    pieces = value.split(",") if isinstance(value, str) else value
    if not isinstance(pieces, list) or not pieces or not all(isinstance(p, str) for p in pieces):
        problems.append(f"{where}: which days, like [mon, tue, wed, thu, fri] or mon-fri (got {shown(value)})")
        return frozenset()
    days: set[int] = set()
    for piece in pieces:
        ends = [end.strip() for end in piece.split("-")]
        if len(ends) > 2:
            problems.append(f"{where}: {shown(piece)} is neither a day nor a range of days like mon-fri")
            continue
        known = words(ends, DAYS, where, problems)
        if len(known) == len(ends):
            first, last = DAYS.index(known[0]), DAYS.index(known[-1])
            days |= {(first + i) % 7 for i in range((last - first) % 7 + 1)}
    return frozenset(days)


def _minutes(value: object, where: str, latest: int, example: str, problems: list[str]) -> int | None:
    """A time of day "HH:MM" as minutes since midnight, up to `latest`."""
    clock = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        clock = divmod(value, 60)  # YAML 1.1 reads an unquoted 22:00 as the sexagesimal number 1320
        value = f"{clock[0]}:{clock[1]:02d}"
    elif isinstance(value, str) and (match := _CLOCK.match(value)):
        clock = int(match[1]), int(match[2])
    if clock is None or clock[1] >= 60 or clock[0] * 60 + clock[1] > latest:
        problems.append(f'{where}: a time from "00:00" to "{latest // 60:02d}:{latest % 60:02d}", like "{example}"'
                        f" (got {shown(value)})")
        return None
    return clock[0] * 60 + clock[1]


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _always_quiet(spans: tuple[QuietSpan, ...]) -> bool:
    """Whether the spans leave no minute of the week open (they start and end on whole minutes)."""
    quiet: set[int] = set()
    for span in spans:
        for start, end in span.minutes():
            quiet.update(day * _DAY_MINUTES + m for day in span.days for m in range(start, end))
    return len(quiet) == _WEEK_MINUTES
