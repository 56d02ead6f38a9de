"""Quiet hours (relay.hold.quiet): JST days and times whatever the moment's zone, night spans (both ends of each
of their days), whole days, spans that follow on from each other, and their edges (the start is quiet, the end
is not)."""
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.hold.quiet import quiet_at, quiet_until
from relay.model import QuietSpan
from relay.render.times import JST
from tests.properties import examples

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = frozenset({MON, TUE, WED, THU, FRI})
NIGHTS = QuietSpan(WEEKDAYS, time(22), time(8))  # Monday to Friday, each 00:00-08:00 and 22:00-24:00
WEEKEND = QuietSpan(frozenset({SAT, SUN}))  # the whole of Saturday and Sunday
DB_TEAM = (NIGHTS, WEEKEND)  # examples/relay.yaml


def jst(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 1) -> datetime:
    """A moment given in JST, as the relay holds it: in UTC. January 2027: the 11th is a Monday."""
    return datetime(2027, month, day, hour, minute, second, tzinfo=JST).astimezone(UTC)


def test_the_days_and_times_are_jst_whatever_the_utc_date():
    tuesday = (QuietSpan(frozenset({TUE})),)
    assert jst(12, 0, 30) == datetime(2027, 1, 11, 15, 30, tzinfo=UTC)  # Monday in UTC, Tuesday in Japan
    assert quiet_at(tuesday, jst(12, 0, 30))
    assert not quiet_at(tuesday, jst(11, 23, 59))
    assert quiet_at(tuesday, datetime(2027, 1, 12, 0, 30, tzinfo=JST))  # any zone: the same moment


@pytest.mark.parametrize("when, quiet", [
    (jst(11, 3), True),  # Monday's small hours
    (jst(11, 21, 59, 59), False),  # Monday, just before the night
    (jst(11, 22), True),  # the start is quiet
    (jst(12, 3), True),  # Tuesday's small hours
    (jst(12, 7, 59, 59), True),
    (jst(12, 8), False),  # the end is not
    (jst(12, 12), False),
    (jst(15, 23), True),  # Friday night
    (jst(16, 3), False),  # Saturday is not a weekday: its small hours are open
    (jst(17, 23), False),  # nor is Sunday night
])
def test_a_night_span_quiets_both_ends_of_each_of_its_days(when, quiet):
    assert quiet_at((NIGHTS,), when) is quiet


@pytest.mark.parametrize("when, quiet", [
    (jst(15, 23, 59, 59), False), (jst(16), True), (jst(17, 23, 59, 59), True), (jst(18), False)])
def test_a_whole_day_runs_from_midnight_to_midnight(when, quiet):
    assert quiet_at((WEEKEND,), when) is quiet


def test_an_end_of_midnight_is_the_next_day_at_0000():
    evening = (QuietSpan(frozenset({MON}), time(18), time(0)),)  # written to: "24:00"
    assert quiet_at(evening, jst(11, 23, 59)) and not quiet_at(evening, jst(12))
    assert quiet_until(evening, jst(11, 18)) == jst(12)


def test_not_quiet_is_the_moment_itself():
    when = jst(13, 12, 0, 7) + timedelta(microseconds=5)
    assert quiet_until(DB_TEAM, when) is when
    assert quiet_until((), when) is when


def test_quiet_ends_at_the_span_end_in_utc():
    until = quiet_until(DB_TEAM, jst(11, 23, 30))
    assert until == jst(12, 8) == datetime(2027, 1, 11, 23, tzinfo=UTC)
    assert until.tzinfo is UTC
    assert quiet_until(DB_TEAM, jst(11, 22)) == jst(12, 8)  # at the very start
    assert quiet_until(DB_TEAM, jst(12, 7, 59, 59)) == jst(12, 8)  # a second before the end


def test_spans_that_follow_on_chain_to_the_last_end():
    # Friday night, the whole weekend, then Monday's small hours: open again on Monday at 08:00.
    assert quiet_until(DB_TEAM, jst(15, 23)) == jst(18, 8)
    assert quiet_until(DB_TEAM, jst(17, 12)) == jst(18, 8)
    # The weekend alone ends at Monday 00:00.
    assert quiet_until((WEEKEND,), jst(15, 23)) == jst(15, 23) and quiet_until((WEEKEND,), jst(17, 12)) == jst(18)


def test_overlapping_spans_end_at_the_latest_end():
    days = frozenset({MON, TUE})
    early, late = QuietSpan(days, time(22), time(2)), QuietSpan(days, time(23), time(6))
    assert quiet_until((early, late), jst(11, 22, 30)) == jst(12, 6)  # 02:00 is still in the later span
    assert quiet_until((early, late), jst(11, 23, 30)) == jst(12, 6)
    assert quiet_until((late, early), jst(12, 1)) == jst(12, 6)


def test_a_week_all_but_one_minute_waits_for_that_minute():
    almost = (QuietSpan(frozenset(range(7)), time(12, 1), time(12)),)  # every day 12:01 → next day 12:00
    assert quiet_until(almost, jst(14, 13)) == jst(15, 12)
    assert not quiet_at(almost, jst(15, 12, 0, 59)) and quiet_at(almost, jst(15, 12, 1))
    days = (QuietSpan(frozenset({MON, TUE, THU, FRI, SAT, SUN})), QuietSpan(frozenset({WED}), time(0), time(23, 59)))
    assert quiet_until(days, jst(11)) == jst(13, 23, 59)  # Monday 00:00 to Wednesday 23:59


@pytest.mark.parametrize("spans", [
    (QuietSpan(frozenset(range(7))),),
    (QuietSpan(frozenset(range(7)), time(0), time(12)), QuietSpan(frozenset(range(7)), time(12), time(0))),
    (QuietSpan(frozenset(range(7)), time(22), time(8)), QuietSpan(frozenset(range(7)), time(8), time(22))),
])
def test_a_whole_week_of_quiet_never_ends(spans):
    assert quiet_at(spans, jst(13, 12))
    with pytest.raises(ValueError, match="whole week"):
        quiet_until(spans, jst(13, 12))


def test_japan_keeps_its_clock_when_other_zones_change_theirs():
    # 2027-03-28: Europe moves its clocks at 01:00 UTC (10:00 JST); a night in Japan stays 10 hours long.
    saturday_night = (QuietSpan(frozenset({SAT, SUN}), time(22), time(8)),)
    start = jst(27, 22, month=3)
    assert start == datetime(2027, 3, 27, 13, tzinfo=UTC)
    assert quiet_until(saturday_night, start) - start == timedelta(hours=10)
    assert jst(28, 8, month=3) - jst(27, 22, month=3) == timedelta(hours=10)


MINUTES = st.integers(0, 24 * 60 - 1)
SPANS = st.lists(st.builds(lambda days, start, end: QuietSpan(frozenset(days), _clock(start), _clock(end)),
                           st.sets(st.integers(0, 6), min_size=1), MINUTES, MINUTES), max_size=4)


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _quiet_minutes(spans) -> set[int]:
    """The minutes of the week (0 = Monday 00:00 JST) the spans cover, counted one by one."""
    covered = set()
    for span in spans:
        start, end = span.start.hour * 60 + span.start.minute, span.end.hour * 60 + span.end.minute
        of_a_day = set(range(start, end)) if start < end else set(range(end)) | set(range(start, 24 * 60))
        covered |= {day * 24 * 60 + m for day in span.days for m in of_a_day}
    return covered


@settings(max_examples=examples(200))
@given(spans=SPANS, minute=st.integers(0, 7 * 24 * 60 - 1), second=st.integers(0, 59))
def test_the_same_as_counting_minutes(spans, minute, second):
    monday = jst(11)
    when = monday + timedelta(minutes=minute, seconds=second)
    covered = _quiet_minutes(spans)
    assert quiet_at(spans, when) is (minute in covered)
    if len(covered) == 7 * 24 * 60:
        with pytest.raises(ValueError):
            quiet_until(spans, when)
        return
    open_minute = next(m for m in range(minute, minute + 7 * 24 * 60) if m % (7 * 24 * 60) not in covered)
    expected = when if open_minute == minute else monday + timedelta(minutes=open_minute)
    assert quiet_until(spans, when) == expected
