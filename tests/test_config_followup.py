"""The config's `reminders:`, `urgent:` and each receiver's `quiet_hours:` (relay.config.followup): the
defaults when absent, what each spelling reads as, and every problem, said with its place."""
from datetime import time, timedelta

import pytest

from relay.config import ConfigError, load_config, parse_config
from relay.config.followup import URGENT_REASONS, ReminderSettings, UrgentSettings
from relay.model import QuietSpan

RECEIVERS = [
    {"name": "platform", "channel": "outbox", "format": "teams"},
    {"name": "web-team", "channel": "outbox", "format": "slack"},
    {"name": "managers", "channel": "outbox", "format": "email", "audience": "managers"},
]
WEEKDAYS = frozenset(range(5))


def config(**sections):
    return parse_config({"receivers": RECEIVERS, **sections})


def quiet_hours(spans) -> tuple[QuietSpan, ...]:
    receivers = [{**RECEIVERS[0], "quiet_hours": spans}]
    return parse_config({"receivers": receivers}).receivers()["platform"].quiet_hours


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    return list(refused.value.problems)


# -- reading


def test_without_the_sections_the_defaults():
    plain = config()
    assert plain.reminders == ReminderSettings(deadline=(timedelta(days=3), timedelta(days=1), timedelta(hours=4)),
                                               reboot=(timedelta(hours=24), timedelta(hours=1)), all_done=True,
                                               receivers=None)
    assert plain.urgent == UrgentSettings(frozenset(URGENT_REASONS), timedelta(hours=24))
    assert URGENT_REASONS == ("scheduled_event", "emergency_maintenance", "emergency_incident", "deadline")
    assert all(r.quiet_hours == () for r in plain.receivers().values())
    assert config(reminders=None, urgent=None) == plain  # the heading alone, nothing under it


def test_reminders_as_written_largest_first():
    reminders = config(reminders={"deadline": ["4h", "1w", "30m", "2D"], "reboot": "90m", "all_done": False,
                                  "receivers": ["web-team", "managers"]}).reminders
    assert reminders == ReminderSettings(
        deadline=(timedelta(weeks=1), timedelta(days=2), timedelta(hours=4), timedelta(minutes=30)),
        reboot=(timedelta(minutes=90),), all_done=False, receivers=("web-team", "managers"))


def test_an_empty_list_means_none_and_an_absent_key_the_default():
    reminders = config(reminders={"deadline": [], "receivers": []}).reminders
    assert (reminders.deadline, reminders.receivers) == ((), ())
    assert reminders.reboot == ReminderSettings().reboot and reminders.all_done
    assert config(reminders={"deadline": "60d"}).reminders.deadline == (timedelta(days=60),)


def test_urgent_as_written():
    urgent = config(urgent={"reasons": ["Scheduled_Event", "deadline"], "deadline_within": "3d"}).urgent
    assert urgent == UrgentSettings(frozenset({"scheduled_event", "deadline"}), timedelta(days=3))
    assert config(urgent={"reasons": []}).urgent.reasons == frozenset()  # everything waits for the quiet hours
    assert config(urgent={"deadline_within": "4h"}).urgent.reasons == frozenset(URGENT_REASONS)


def test_quiet_hours_spans():
    nights, weekend = quiet_hours([{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "22:00", "to": "08:00"},
                                   {"days": ["sat", "sun"]}])
    assert nights == QuietSpan(WEEKDAYS, time(22), time(8))
    assert weekend == QuietSpan(frozenset({5, 6}), time(0), time(0))  # the whole day
    assert quiet_hours([]) == ()


@pytest.mark.parametrize("days, expected", [
    ("mon-fri", WEEKDAYS), ("sat-sun", {5, 6}), ("mon,wed", {0, 2}), ("Mon - Fri", WEEKDAYS), ("sun", {6}),
    ("fri-mon", {4, 5, 6, 0}), (["mon-wed", "fri"], {0, 1, 2, 4}), (["tue", "tue"], {1}),
])
def test_days_as_lists_ranges_and_commas(days, expected):
    assert quiet_hours([{"days": days}])[0].days == frozenset(expected)


@pytest.mark.parametrize("start, end, expected", [
    ("7:30", "9:05", (time(7, 30), time(9, 5))),
    ("18:00", "24:00", (time(18), time(0))),  # 24:00: midnight, the span's end
    ("00:00", "24:00", (time(0), time(0))),  # the whole day, written out
    (1320, "08:00", (time(22), time(8))),  # YAML 1.1 reads an unquoted 22:00 as 22 × 60
])
def test_times(start, end, expected):
    span = quiet_hours([{"days": "mon", "from": start, "to": end}])[0]
    assert (span.start, span.end) == expected


def test_unquoted_times_in_a_file(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text("receivers:\n  - name: a\n    channel: outbox\n    format: teams\n    quiet_hours:\n"
                    "      - {days: mon-fri, from: 22:30, to: 07:45}\n      - {days: sat, from: 9:00, to: 24:00}\n",
                    encoding="utf-8")
    spans = load_config(path).receivers()["a"].quiet_hours
    assert [(s.start, s.end) for s in spans] == [(time(22, 30), time(7, 45)), (time(9), time(0))]


# -- problems


def span_problems(**span) -> list[str]:
    return problems({"receivers": [*RECEIVERS[:2], {**RECEIVERS[2], "quiet_hours": [span]}]})


@pytest.mark.parametrize("span, expected", [
    ({"days": "mon", "from": "25:00", "to": "08:00"},
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'25:00\')'),
    ({"days": "mon", "from": 1500, "to": "08:00"},  # an unquoted 25:00
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'25:00\')'),
    ({"days": "mon", "from": "24:00", "to": "08:00"},
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'24:00\')'),
    ({"days": "mon", "from": "22:60", "to": "08:00"},
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'22:60\')'),
    ({"days": "mon", "from": "10pm", "to": "08:00"},
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'10pm\')'),
    ({"days": "mon", "from": 22, "to": "08:00"},
     'receivers[2].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got 22)'),
    ({"days": "mon", "from": "22:00", "to": "24:01"},
     'receivers[2].quiet_hours[0].to: a time from "00:00" to "24:00", like "08:00" (got \'24:01\')'),
    ({"days": "mon", "from": "22:00", "to": True},
     'receivers[2].quiet_hours[0].to: a time from "00:00" to "24:00", like "08:00" (got True)'),
    ({"days": "mon", "from": "22:00"},
     "receivers[2].quiet_hours[0].to: write from and to together, or neither for the whole day"),
    ({"days": "mon", "to": "08:00"},
     "receivers[2].quiet_hours[0].from: write from and to together, or neither for the whole day"),
    ({"days": "mon", "from": "08:00", "to": "8:00"},
     "receivers[2].quiet_hours[0].to: the same time as from; leave both out for the whole day"),
    ({"from": "22:00", "to": "08:00"},
     "receivers[2].quiet_hours[0].days: which days, like [mon, tue, wed, thu, fri] or mon-fri (got None)"),
    ({"days": []}, "receivers[2].quiet_hours[0].days: which days, like [mon, tue, wed, thu, fri] or mon-fri"
                   " (got a list)"),
    ({"days": "mon-wed-fri"},
     "receivers[2].quiet_hours[0].days: 'mon-wed-fri' is neither a day nor a range of days like mon-fri"),
    ({"days": ["monday"]}, "receivers[2].quiet_hours[0].days: 'monday' is unknown; did you mean mon?"),
    ({"days": "mon-fir"}, "receivers[2].quiet_hours[0].days: 'fir' is unknown; did you mean fri?"),
    ({"days": "mon", "form": "22:00"}, "receivers[2].quiet_hours[0].form: unknown setting; did you mean from?"),
])
def test_a_bad_span_is_named(span, expected):
    assert span_problems(**span) == [expected]


def test_the_spans_are_a_list_of_mappings():
    assert problems({"receivers": [{**RECEIVERS[0], "quiet_hours": "22:00-08:00"}]}) == [
        "receivers[0].quiet_hours: a list of spans like {days: mon-fri, from: \"22:00\", to: \"08:00\"}, in JST"
        " (got '22:00-08:00')"]
    assert problems({"receivers": [{**RECEIVERS[0], "quiet_hours": ["mon-fri"]}]}) == [
        "receivers[0].quiet_hours[0]: a mapping with days, and from and to, like {days: mon-fri, from: \"22:00\","
        " to: \"08:00\"}; without from and to, the whole day"]


ALWAYS = ("a receiver that is always quiet would never hear anything but urgent messages; remove quiet_hours or"
          " leave some hours open")


@pytest.mark.parametrize("spans", [
    [{"days": "mon-sun"}],
    [{"days": "mon-sun", "from": "08:00", "to": "22:00"}, {"days": "mon-sun", "from": "22:00", "to": "08:00"}],
    [{"days": "mon-fri", "from": "08:00", "to": "24:00"}, {"days": "tue-sat", "from": "00:00", "to": "08:00"},
     {"days": "sat-mon"}],
])
def test_a_receiver_is_never_quiet_all_week(spans):
    assert problems({"receivers": [{**RECEIVERS[0], "quiet_hours": spans}]}) == [f"receivers[0].quiet_hours: {ALWAYS}"]


def test_a_minute_open_is_enough():
    spans = quiet_hours([{"days": "mon-sun", "from": "08:01", "to": "08:00"}])
    assert spans == (QuietSpan(frozenset(range(7)), time(8, 1), time(8)),)


@pytest.mark.parametrize("reminders, expected", [
    (5, ["reminders: a mapping with deadline, reboot, all_done and receivers"]),
    ({"deadline": 4}, ["reminders.deadline: how long before, like 4h, or a list like [3d, 1d, 4h]; [] for none"
                       " (got 4)"]),
    ({"deadline": None}, ["reminders.deadline: how long before, like 4h, or a list like [3d, 1d, 4h]; [] for none"
                          " (got None)"]),
    ({"deadline": ["3d", "3 days"]}, ["reminders.deadline[1]: a duration like 30m, 4h, 3d or 1w (got '3 days')"]),
    ({"deadline": "0h"}, ["reminders.deadline: more than 0 and at most 60 days (got '0h')"]),
    ({"reboot": ["1h", "9w"]}, ["reminders.reboot[1]: more than 0 and at most 60 days (got '9w')"]),
    ({"reboot": ["24h", "1d"]}, ["reminders.reboot[1]: '1d' is the same time as '24h'; write each time once"]),
    ({"deadline": ["4h", "1d", "4h"]}, ["reminders.deadline[2]: '4h' is written twice; write each time once"]),
    ({"deadline": ["9" * 5000 + "h"]},  # no int of 5,000 digits is made (Python refuses those)
     [f"reminders.deadline[0]: a duration like 30m, 4h, 3d or 1w (got '{'9' * 58}…)"]),
    ({"all_done": "yes"}, ["reminders.all_done: true (one note when a receiver's last VM is done) or false"]),
    ({"receivers": "platform"}, ["reminders.receivers: a list of receiver names, like [platform]; [] for none"]),
    ({"receivers": ["platform", "nobody"]},
     ["reminders.receivers[1]: no receiver is named 'nobody'; there are: platform, web-team, managers"]),
    ({"deadlines": ["1d"]}, ["reminders.deadlines: unknown setting; did you mean deadline?"]),
])
def test_bad_reminders_are_named(reminders, expected):
    assert problems({"receivers": RECEIVERS, "reminders": reminders}) == expected


@pytest.mark.parametrize("urgent, expected", [
    ([], "urgent: a mapping with reasons and deadline_within"),
    ({"reasons": ["scheduled_events"]}, "urgent.reasons: 'scheduled_events' is unknown; did you mean scheduled_event?"),
    ({"reasons": ["outage"]}, "urgent.reasons: 'outage' is unknown; write one of: scheduled_event,"
                              " emergency_maintenance, emergency_incident, deadline"),
    ({"reasons": None}, "urgent.reasons: a list of scheduled_event, emergency_maintenance, emergency_incident,"
                        " deadline; [] for none"),
    ({"reasons": 5}, "urgent.reasons: a list of scheduled_event, emergency_maintenance, emergency_incident, deadline"),
    ({"deadline_within": "1 day"}, "urgent.deadline_within: a duration like 30m, 4h, 3d or 1w (got '1 day')"),
    ({"deadline_within": "0m"}, "urgent.deadline_within: more than 0 and at most 60 days (got '0m')"),
    ({"reason": ["deadline"]}, "urgent.reason: unknown setting; did you mean reasons?"),
])
def test_bad_urgent_settings_are_named(urgent, expected):
    assert problems({"receivers": RECEIVERS, "urgent": urgent}) == [expected]


def test_every_problem_at_once_with_the_file():
    with pytest.raises(ConfigError) as refused:
        parse_config({"receivers": [{**RECEIVERS[0], "quiet_hours": [{"days": "mon", "from": "25:00", "to": "1:00"}]}],
                      "reminders": {"deadline": ["1x"]}, "urgent": {"deadline_within": "1y"}}, source="relay.yaml")
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "receivers[0].quiet_hours[0].from", "reminders.deadline[0]", "urgent.deadline_within"]
    assert str(refused.value).startswith("relay.yaml:\n  receivers[0].quiet_hours[0].from: ")
