from datetime import datetime, timedelta, timezone

import pytest

from relay.model import Window
from relay.render.times import (
    format_countdown,
    format_time,
    format_time_both,
    format_time_utc,
    format_window,
    format_window_both,
    format_window_utc,
    iso_utc,
    to_jst,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


NOW = utc("2027-01-12T00:00:00Z")


def test_to_jst_is_nine_hours_ahead():
    assert to_jst(utc("2026-01-20T15:00:00Z")).isoformat() == "2026-01-21T00:00:00+09:00"


def test_iso_utc_normalises_offsets_and_passes_none():
    assert iso_utc(utc("2026-01-21T00:00:00+09:00")) == "2026-01-20T15:00:00Z"
    assert iso_utc(None) is None


@pytest.mark.parametrize(
    "when, ja, en",
    [
        ("2026-01-20T15:00:00Z", "2026年1月21日(水) 0:00 JST", "Wed 21 Jan 2026 00:00 JST"),
        ("2026-01-20T14:59:00Z", "2026年1月20日(火) 23:59 JST", "Tue 20 Jan 2026 23:59 JST"),
        ("2026-12-31T15:00:00Z", "2027年1月1日(金) 0:00 JST", "Fri 1 Jan 2027 00:00 JST"),
        ("2027-02-14T03:05:00Z", "2027年2月14日(日) 12:05 JST", "Sun 14 Feb 2027 12:05 JST"),
        ("2028-02-28T15:00:00Z", "2028年2月29日(火) 0:00 JST", "Tue 29 Feb 2028 00:00 JST"),
    ],
)
def test_format_time_in_jst_with_the_right_weekday(when, ja, en):
    assert format_time(utc(when), "ja") == ja
    assert format_time(utc(when), "en") == en


def test_format_time_weekday_names_cover_the_whole_week():
    monday = utc("2027-01-03T15:00:00Z")  # Mon 4 Jan 2027 00:00 JST
    days = [format_time(monday + timedelta(days=n), lang) for n in range(7) for lang in ("ja", "en")]
    assert [d.split(")")[0][-1] for d in days[0::2]] == list("月火水木金土日")
    assert [d[:3] for d in days[1::2]] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_format_time_both_puts_utc_beside():
    when = utc("2026-01-20T15:00:00Z")
    assert format_time_both(when, "ja") == "2026年1月21日(水) 0:00 JST（2026-01-20 15:00 UTC）"
    assert format_time_both(when, "en") == "Wed 21 Jan 2026 00:00 JST (2026-01-20 15:00 UTC)"


def test_unknown_times():
    assert format_time(None, "ja") == "未定"
    assert format_time(None, "en") == "unknown"
    assert format_time_both(None, "ja") == "未定"
    assert format_time_utc(None) == "?"


def test_window_within_one_jst_day_repeats_only_the_clock():
    window = Window(utc("2026-01-20T15:00:00Z"), utc("2026-01-21T03:00:00Z"))
    assert format_window(window, "ja") == "2026年1月21日(水) 0:00〜12:00 JST"
    assert format_window(window, "en") == "Wed 21 Jan 2026 00:00–12:00 JST"
    assert format_window_utc(window) == "2026-01-20 15:00–2026-01-21 03:00 UTC"


def test_window_crossing_jst_midnight_names_both_days():
    window = Window(utc("2026-01-20T14:00:00Z"), utc("2026-01-20T16:00:00Z"))
    assert format_window(window, "ja") == "2026年1月20日(火) 23:00〜1月21日(水) 1:00 JST"
    assert format_window(window, "en") == "Tue 20 Jan 2026 23:00 – Wed 21 Jan 2026 01:00 JST"
    assert format_window_utc(window) == "2026-01-20 14:00–16:00 UTC"


def test_window_crossing_new_year_in_jst_repeats_the_year():
    window = Window(utc("2026-12-31T14:00:00Z"), utc("2026-12-31T16:00:00Z"))
    assert format_window(window, "ja") == "2026年12月31日(木) 23:00〜2027年1月1日(金) 1:00 JST"
    assert format_window(window, "en") == "Thu 31 Dec 2026 23:00 – Fri 1 Jan 2027 01:00 JST"
    assert format_window_both(window, "ja") == (
        "2026年12月31日(木) 23:00〜2027年1月1日(金) 1:00 JST（2026-12-31 14:00–16:00 UTC）"
    )


def test_window_with_an_unknown_end_or_start():
    start_only = Window(start=utc("2026-01-20T15:00:00Z"))
    end_only = Window(end=utc("2026-01-21T03:00:00Z"))
    assert format_window(start_only, "ja") == "2026年1月21日(水) 0:00 JST〜終了未定"
    assert format_window(start_only, "en") == "Wed 21 Jan 2026 00:00 JST – end unknown"
    assert format_window(end_only, "ja") == "開始未定〜2026年1月21日(水) 12:00 JST"
    assert format_window(end_only, "en") == "start unknown – Wed 21 Jan 2026 12:00 JST"
    assert format_window_utc(start_only) == "2026-01-20 15:00–? UTC"
    assert format_window_utc(end_only) == "?–2026-01-21 03:00 UTC"
    assert format_window_both(end_only, "en") == (
        "start unknown – Wed 21 Jan 2026 12:00 JST (?–2026-01-21 03:00 UTC)"
    )


def test_window_with_nothing_known():
    assert format_window(Window(), "ja") == "未定"
    assert format_window(Window(), "en") == "unknown"
    assert format_window_both(Window(), "ja") == "未定"
    assert format_window_both(Window(), "en") == "unknown"


def test_window_given_in_another_offset_is_shown_in_jst():
    window = Window(utc("2026-01-20T16:00:00+01:00"), utc("2026-01-20T18:00:00+01:00"))
    assert format_window(window, "en") == "Wed 21 Jan 2026 00:00–02:00 JST"


@pytest.mark.parametrize(
    "left, ja, en",
    [
        (timedelta(days=-1), "期限切れ", "passed"),
        (timedelta(0), "期限切れ", "passed"),
        (timedelta(seconds=59), "あと1分未満", "under 1m left"),
        (timedelta(minutes=1), "あと1分", "1m left"),
        (timedelta(minutes=59, seconds=59), "あと59分", "59m left"),
        (timedelta(hours=1), "あと1時間0分", "1h 0m left"),
        (timedelta(hours=3, minutes=7), "あと3時間7分", "3h 7m left"),
        (timedelta(hours=23, minutes=59), "あと23時間59分", "23h 59m left"),
        (timedelta(days=1), "あと1日", "1d left"),
        (timedelta(days=29, hours=4, minutes=30), "あと29日4時間", "29d 4h left"),
    ],
)
def test_countdown(left, ja, en):
    assert format_countdown(NOW + left, NOW, "ja") == ja
    assert format_countdown(NOW + left, NOW, "en") == en


def test_countdown_without_a_deadline():
    assert format_countdown(None, NOW, "ja") == "未定"
    assert format_countdown(None, NOW, "en") == "unknown"


def test_countdown_across_offsets():
    deadline = datetime(2027, 1, 12, 12, 0, tzinfo=timezone(timedelta(hours=9)))  # 03:00 UTC
    assert format_countdown(deadline, NOW, "en") == "3h 0m left"
