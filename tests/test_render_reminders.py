"""Reminders (deadline, reboot, all done) and released messages in every channel and language: what they say
first, that a reminder is no update and carries none of Azure's text, and that a released message is the latest
notice with a word on top saying it was held."""
from __future__ import annotations

import html
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from relay.render import render
from relay.render.teams import TEAMS_MAX_BYTES
from tests import factories as f
from tests.render_fixtures import (
    FOLLOW_UPS,
    JAPANESE,
    all_done_reminder,
    assert_cards_valid,
    deadline_reminder,
    email_parts,
    parse_email,
    reboot_reminder,
    released,
    slack_payload,
    slack_texts,
)
from tests.teams_card import card_of, texts
from tests.test_render_slack import within_limits

CHANNELS = ("teams", "slack", "email", "managers")
REMINDERS = {"deadline": deadline_reminder, "reboot": reboot_reminder, "all_done": all_done_reminder}

HEADLINES = {
    "deadline": ("【要対応 2 台・リマインダー】期限 1/23(金) 16:30 JST（あと1日）東日本 VM 再起動 XY12-3ZQ",
                 "[Action: 2 VMs · reminder] by Fri 23 Jan 16:30 JST (1d left) Japan East VM reboot XY12-3ZQ"),
    "reboot": ("【Azure が再起動 3 台・リマインダー】1/25(日) 0:00 JST 以降 東日本 VM 再起動 XY12-3ZQ",
               "[Azure reboots 3 VMs · reminder] from Sun 25 Jan 00:00 JST Japan East VM reboot XY12-3ZQ"),
    "all_done": ("【対応完了】東日本 VM 再起動 XY12-3ZQ（当チームの 3 台すべて更新済み）",
                 "[All done] Japan East VM reboot XY12-3ZQ (all 3 of your VMs updated)"),
}
NOTES = {
    "deadline": (
        "リマインダー: セルフサービス期間は 2026年1月23日(金) 16:30 JST（2026-01-23 07:30 UTC）に終わります（あと1日）。"
        "対象の VM（2 台）は、まだセルフサービスのメンテナンスを実行していません。期限までに実行してください。"
        "実行しなかった VM は、予定メンテナンス期間に Azure が再起動します。",
        "Reminder: the self-service window ends Fri 23 Jan 2026 16:30 JST (2026-01-23 07:30 UTC) — 1d left. "
        "Maintenance has not been started on 2 VMs (listed below): start it before then, or Azure reboots them in "
        "its scheduled window.",
    ),
    "reboot": (
        "リマインダー: 予定メンテナンス期間が 2026年1月25日(日) 0:00 JST（2026-01-24 15:00 UTC）に始まります（あと1日）。"
        "この時刻以降、Azure が対象の VM（3 台）を順に再起動します。各 VM の正確な時刻は事前には分かりません。",
        "Reminder: Azure's scheduled window opens Sun 25 Jan 2026 00:00 JST (2026-01-24 15:00 UTC) — 1d left. "
        "From then Azure reboots 3 VMs (listed below), each at a time not known in advance.",
    ),
    "all_done": (
        "このメンテナンスの対象だった当チームの VM（3 台）は、すべて更新済みになりました。対応は不要です。"
        "Azure から新しいお知らせがない限り、このメンテナンスについての通知はこれで最後です（リマインダーも送りません）。",
        "All 3 of your VMs in this maintenance are updated: nothing more to do. Nothing more will be sent about it, "
        "reminders included, unless Azure sends news.",
    ),
}
HELD = {
    "quiet_hours": (
        "通知停止時間（quiet hours）のため、2026年1月20日(火) 3:00 JST（2026-01-19 18:00 UTC）から届いたお知らせ 2 件を"
        "保留していました。最新の状態をお知らせします。",
        "Held during quiet hours: 2 messages since Tue 20 Jan 2026 03:00 JST (2026-01-19 18:00 UTC). "
        "This is the latest state.",
    ),
    "silence": (
        "通知の一時停止（サイレンス）のため、2026年1月20日(火) 3:00 JST（2026-01-19 18:00 UTC）から届いたお知らせ 2 件を"
        "保留していました。サイレンスが終わったため、最新の状態をお知らせします。",
        "Held by a silence, now ended: 2 messages since Tue 20 Jan 2026 03:00 JST (2026-01-19 18:00 UTC). "
        "This is the latest state.",
    ),
}
UPDATE_WORDS = ("（更新）", "(update)", "・更新", "· update", "前回の通知", "the last notice", "earlier notice")
AZURE_TEXT = ("Azure からのお知らせ（原文）", "Message from Azure", "Show Azure's original message")
ACTION_WORDS = ("必要な対応", "What to do", "perform-maintenance", "PerformMaintenance", "今すぐ開始できる",
                "can be maintained now")


def receiver(channel: str, language: str = "both"):
    if channel == "managers":
        return replace(f.receiver("email", language), audience="managers")
    return f.receiver(channel, language)


def shown(notification, channel: str, language: str = "both") -> str:
    """Everything a reader of the message sees, one line an element: the card's texts, the Slack message's
    texts, or the email's subject, text part and HTML part (unescaped)."""
    body = render(notification, receiver(channel, language)).body
    if channel == "teams":
        return "\n".join(texts(body))
    if channel == "slack":
        return "\n".join(slack_texts(slack_payload(body)))
    message = parse_email(body)
    text, markup = email_parts(message)
    return "\n".join((str(message["Subject"]), text, html.unescape(markup)))


# -- every channel takes them


def test_every_card_is_a_valid_adaptive_card_within_its_budget(tmp_path):
    envelopes = {f"{name}-{language}": render(make(), f.receiver("teams", language)).body
                 for name, make in FOLLOW_UPS.items() for language in f.LANGUAGES}
    assert all(len(body) <= TEAMS_MAX_BYTES for body in envelopes.values())
    assert_cards_valid(envelopes, tmp_path)


@pytest.mark.parametrize("name", list(FOLLOW_UPS))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_every_slack_message_parses_with_block_kit_models_and_respects_limits(name, language):
    within_limits(slack_payload(render(FOLLOW_UPS[name](), f.receiver("slack", language)).body))


@pytest.mark.parametrize("name", list(FOLLOW_UPS))
@pytest.mark.parametrize("channel", ("email", "managers"))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_every_email_parses_back_and_english_has_no_japanese(name, channel, language):
    message = render(FOLLOW_UPS[name](), receiver(channel, language))
    assert message.body.isascii()
    text, markup = email_parts(parse_email(message.body))
    assert markup.lstrip().startswith("<!DOCTYPE html>")
    if language == "en":
        assert not JAPANESE.search(text), JAPANESE.findall(text)


# -- reminders


@pytest.mark.parametrize("kind", list(REMINDERS))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_the_headline_leads_every_channel_with_the_reminder_tag(kind, language):
    n = REMINDERS[kind]()
    langs = {"ja": (0,), "en": (1,), "both": (0, 1)}[language]
    headlines = [HEADLINES[kind][i] for i in langs]
    slack = slack_payload(render(n, f.receiver("slack", language)).body)
    assert slack["text"] == " / ".join(headlines)
    assert slack["blocks"][0]["text"]["text"].endswith(headlines[0])
    envelope = json.loads(render(n, f.receiver("teams", language)).body)
    assert envelope["summary"] == headlines[0]
    assert card_of(render(n, f.receiver("teams", language)).body)["body"][0]["items"][0]["text"] == headlines[0]
    subject = parse_email(render(n, f.receiver("email", language)).body)["Subject"]
    assert subject == " / ".join(headlines)


@pytest.mark.parametrize("kind", list(REMINDERS))
@pytest.mark.parametrize("channel", ("teams", "slack", "email"))
def test_the_note_says_what_the_reminder_is_in_jst_with_utc(kind, channel):
    ja, en = NOTES[kind]
    both = shown(REMINDERS[kind](), channel)
    assert ja in both and en in both
    assert both.index(ja) < both.index(en)  # Japanese first
    assert ja in shown(REMINDERS[kind](), channel, "ja") and en not in shown(REMINDERS[kind](), channel, "ja")
    assert en in shown(REMINDERS[kind](), channel, "en")


@pytest.mark.parametrize("kind", list(REMINDERS))
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_reminder_is_no_update_and_carries_none_of_azures_text(kind, channel):
    """The reminder's notification has a prior notice and what the receiver was last told (a VM since gone),
    and its event still says Planned: none of it is news."""
    n = REMINDERS[kind]()
    n = replace(n, enriched=replace(n.enriched, event=replace(n.event, communication=f.COMMUNICATION)))
    said = shown(n, channel)
    for words in UPDATE_WORDS + AZURE_TEXT + ("vm-gone-01", "日程が変更", "has moved", f.COMMUNICATION[:40]):
        assert words not in said, words
    if (kind, channel) != ("all_done", "managers"):  # managers read the last word on it, not a reminder
        assert "リマインダー" in said and "reminder" in said.lower()


def test_a_deadline_reminder_lists_the_vms_to_start_with_their_commands():
    said = shown(deadline_reminder(), "slack", "en")
    assert "az vm perform-maintenance -g rg-web -n vm-web-01" in said
    assert "az vm perform-maintenance -g rg-web -n vm-web-02" in said
    assert "(by Fri 23 Jan 16:30 JST, 1d left)" in said


def test_a_reboot_reminder_names_the_risks_of_the_reboot():
    said = shown(reboot_reminder(), "email", "ja")
    assert "単一構成（再起動で停止）" in said
    assert "可用性セットにも可用性ゾーンにも属さない単一構成の VM は、再起動の間サービスが止まります。" in said
    assert "「スケジュール済み」の VM（3 台）は、予定メンテナンス期間内に Azure が再起動します。" in said


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_all_done_note_asks_nothing(channel):
    said = shown(all_done_reminder(), channel)
    for words in ACTION_WORDS + ("今週決めること", "Decisions this week"):
        assert words not in said, words
    assert "更新済み" in said and "Already updated" in said


def test_the_all_done_note_looks_like_good_news():
    n = all_done_reminder()
    head = card_of(render(n, f.receiver("teams")).body)["body"][0]
    assert head["style"] == "good" and head["items"][0]["color"] == "Good"
    assert slack_payload(render(n, f.receiver("slack")).body)["blocks"][0]["text"]["text"].startswith("✅ ")
    _, markup = email_parts(parse_email(render(n, f.receiver("email")).body))
    assert "border-left:6px solid #107c10" in markup


def test_a_reminder_email_is_its_own_message_in_the_events_thread():
    notice = parse_email(render(f.planned(), f.receiver("email")).body)
    reminders = [parse_email(render(make(), f.receiver("email")).body) for make in REMINDERS.values()]
    earlier = deadline_reminder()  # the reminder three days before the same deadline
    earlier = replace(earlier, reminder=replace(earlier.reminder, before=timedelta(days=3)))
    ids = {m["Message-ID"] for m in (notice, *reminders, parse_email(render(earlier, f.receiver("email")).body))}
    assert len(ids) == 5  # none shares the notice's, though all share its communication
    assert {m["In-Reply-To"] for m in (notice, *reminders)} == {notice["In-Reply-To"]}


@pytest.mark.parametrize("kind", list(REMINDERS))
def test_managers_read_a_reminder_politely_with_no_commands_and_no_calendar(kind):
    message = parse_email(render(REMINDERS[kind](), receiver("managers")).body)
    text, _ = email_parts(message)
    assert not [a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"]
    assert "perform-maintenance" not in text and "実行してください" not in text
    expected = {
        "deadline": ("リマインダーです。セルフサービス期限（1/23(金) 16:30 JST、あと1日）が近づいていますが、"
                     "当社の VM 2 台はまだメンテナンスを実施していません。",
                     "A reminder: the self-service deadline is Fri 23 Jan 16:30 JST (1d left), and 2 VMs of ours "
                     "have not been maintained yet."),
        "reboot": ("リマインダーです。Azure の予定メンテナンス期間が 1/25(日) 0:00 JST（あと1日）に始まり、"
                   "当社の VM 3 台が再起動されます。",
                   "A reminder: Azure's scheduled window opens Sun 25 Jan 00:00 JST (1d left), and 3 VMs of ours "
                   "will be rebooted in it."),
        "all_done": ("このメンテナンスについてのご連絡はこれで最後です。Azure から新しいお知らせがあった場合は、"
                     "あらためてお知らせいたします。",
                     "This is the last message about this maintenance, unless Azure sends news."),
    }[kind]
    assert all(line in text for line in expected)
    subject = str(message["Subject"])
    assert ("【対応完了】" in subject) if kind == "all_done" else ("・リマインダー】" in subject and " · reminder]" in subject)


@pytest.mark.parametrize(("make", "summary"), [
    (deadline_reminder, "maintenance reminder:deadline Planned XY12-3ZQ vms=2"),
    (reboot_reminder, "maintenance reminder:reboot Planned XY12-3ZQ vms=3"),
    (all_done_reminder, "maintenance reminder:all_done Planned XY12-3ZQ vms=3"),
    (released, "maintenance released:quiet_hours Rescheduled XY12-3ZQ vms=6"),
])
def test_the_summary_line_says_what_the_message_is(make, summary):
    assert render(make(), f.receiver("slack")).summary == summary


# -- released


@pytest.mark.parametrize("reason", list(HELD))
@pytest.mark.parametrize("channel", ("teams", "slack", "email", "managers"))
def test_a_released_message_says_first_that_it_was_held(reason, channel):
    ja, en = HELD[reason]
    said = shown(released(reason), channel)
    assert ja in said and en in said and said.index(ja) < said.index(en)
    assert said.index(ja) < said.index("状況") and said.index(en) < said.index("Stage")


@pytest.mark.parametrize("language", f.LANGUAGES)
def test_the_held_note_heads_the_card_and_the_slack_note(language):
    n = released()
    summary = card_of(render(n, f.receiver("teams", language)).body)["body"][1]["items"]
    first = HELD["quiet_hours"][0 if language != "en" else 1]
    assert summary[0] == {"type": "TextBlock", "text": first, "wrap": True, "weight": "Bolder", "color": "Warning"}
    blocks = slack_payload(render(n, f.receiver("slack", language)).body)["blocks"]
    assert blocks[2]["text"]["text"].startswith(f":warning: *{first}*\n")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_released_message_carries_the_latest_stage(channel):
    said = shown(released(), channel)
    assert "日程変更" in said and "Rescheduled" in said.replace("rescheduled", "Rescheduled")
    if channel != "managers":
        assert "【要対応 2 台・日程変更】" in said and "（更新）" in said
        assert "日程が変更されました: 2026年1月18日(日) 0:00〜12:00 JST（2026-01-17 15:00–2026-01-18 03:00 UTC）" in said
    if channel != "teams":  # the card folds Azure's text behind a button
        assert f.COMMUNICATION.split("\n")[0] in said


def test_a_released_message_alone_in_one_language():
    ja = shown(released("silence"), "slack", "ja")
    assert HELD["silence"][0] in ja and "Held" not in ja
    en = shown(released("silence"), "teams", "en")
    assert HELD["silence"][1] in en and not JAPANESE.search(en)
