"""Times as the reader in Japan wants them: JST with weekday, UTC beside, in Japanese or English.

    2026年1月21日(水) 0:00〜12:00 JST       Wed 21 Jan 2026 00:00–12:00 JST
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from relay.model import Window

JST = ZoneInfo("Asia/Tokyo")

_JA_WEEKDAYS = "月火水木金土日"
_UNKNOWN = {"ja": "未定", "en": "unknown"}
_UNKNOWN_START = {"ja": "開始未定", "en": "start unknown"}
_UNKNOWN_END = {"ja": "終了未定", "en": "end unknown"}
_EN_SEP, _JA_SEP = "–", "〜"


def to_jst(when: datetime) -> datetime:
    return when.astimezone(JST)


def iso_utc(when: datetime | None) -> str | None:
    """2026-01-20T15:00:00Z, or None."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ja_date(t: datetime, with_year: bool = True) -> str:
    year = f"{t.year}年" if with_year else ""
    return f"{year}{t.month}月{t.day}日({_JA_WEEKDAYS[t.weekday()]})"


def _en_date(t: datetime, with_year: bool = True) -> str:
    year = f" {t.year}" if with_year else ""
    return f"{t:%a} {t.day} {t:%b}{year}"


def _clock(t: datetime, lang: str) -> str:
    return f"{t.hour}:{t.minute:02d}" if lang == "ja" else f"{t:%H:%M}"


def _date(t: datetime, lang: str, with_year: bool = True) -> str:
    return _ja_date(t, with_year) if lang == "ja" else _en_date(t, with_year)


def format_time(when: datetime | None, lang: str) -> str:
    """One instant: `2026年1月21日(水) 0:00 JST` / `Wed 21 Jan 2026 00:00 JST`."""
    if when is None:
        return _UNKNOWN[lang]
    t = to_jst(when)
    return f"{_date(t, lang)} {_clock(t, lang)} JST"


def format_time_short(when: datetime | None, lang: str) -> str:
    """One instant, short enough for a phone's notification: `1/21(水) 0:00 JST` / `Wed 21 Jan 00:00 JST`."""
    if when is None:
        return _UNKNOWN[lang]
    t = to_jst(when)
    day = f"{t.month}/{t.day}({_JA_WEEKDAYS[t.weekday()]})" if lang == "ja" else _en_date(t, with_year=False)
    return f"{day} {_clock(t, lang)} JST"


def format_time_utc(when: datetime | None) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else "?"


def format_time_both(when: datetime | None, lang: str) -> str:
    if when is None:
        return _UNKNOWN[lang]
    return _beside(format_time(when, lang), format_time_utc(when), lang)


def _beside(jst: str, utc: str, lang: str) -> str:
    return f"{jst}（{utc}）" if lang == "ja" else f"{jst} ({utc})"


def format_window(window: Window, lang: str) -> str:
    """A range in JST; the end repeats the date only when it falls on another day."""
    sep = _JA_SEP if lang == "ja" else _EN_SEP
    start, end = window.start, window.end
    if start is None and end is None:
        return _UNKNOWN[lang]
    spaced = sep if lang == "ja" else f" {sep} "
    if start is None:
        return f"{_UNKNOWN_START[lang]}{spaced}{format_time(end, lang)}"
    s = to_jst(start)
    head = f"{_date(s, lang)} {_clock(s, lang)}"
    if end is None:
        return f"{head} JST{spaced}{_UNKNOWN_END[lang]}"
    e = to_jst(end)
    if e.date() == s.date():
        return f"{head}{sep}{_clock(e, lang)} JST"
    return f"{head}{spaced}{_date(e, lang, with_year=e.year != s.year or lang == 'en')} {_clock(e, lang)} JST"


def format_window_utc(window: Window) -> str:
    """The same range in UTC, compact and language-neutral: `2026-01-20 15:00–2026-01-21 03:00 UTC`."""
    start, end = window.start, window.end
    s = f"{start.astimezone(UTC):%Y-%m-%d %H:%M}" if start else "?"
    if end is None:
        return f"{s}–? UTC"
    e_utc = end.astimezone(UTC)
    same_day = start is not None and start.astimezone(UTC).date() == e_utc.date()
    return f"{s}–{e_utc:%H:%M} UTC" if same_day else f"{s}–{e_utc:%Y-%m-%d %H:%M} UTC"


def format_window_both(window: Window, lang: str) -> str:
    """JST first, UTC in brackets: what every message shows for a window."""
    if window.start is None and window.end is None:
        return _UNKNOWN[lang]
    return _beside(format_window(window, lang), format_window_utc(window), lang)


def format_countdown(deadline: datetime | None, now: datetime, lang: str) -> str:
    """Time left until a deadline: `あと3日4時間` / `3d 4h left`; `期限切れ` / `passed` after it."""
    if deadline is None:
        return _UNKNOWN[lang]
    left = deadline - now
    if left <= timedelta(0):
        return "期限切れ" if lang == "ja" else "passed"
    if left < timedelta(minutes=1):  # not "0m left" while the deadline is still ahead
        return "あと1分未満" if lang == "ja" else "under 1m left"
    return f"あと{format_duration(left, lang)}" if lang == "ja" else f"{format_duration(left, lang)} left"


def format_duration(span: timedelta, lang: str) -> str:
    """How long something lasted, to the minute: `3日4時間` / `3d 4h`, `1日` / `1d`, `1時間5分` / `1h 5m`, `1分未満` /
    `under 1m`."""
    if span < timedelta(minutes=1):
        return "1分未満" if lang == "ja" else "under 1m"
    days, rest = divmod(int(span.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if lang == "ja":
        if days:
            return f"{days}日{hours}時間" if hours else f"{days}日"
        return f"{hours}時間{minutes}分" if hours else f"{minutes}分"
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
