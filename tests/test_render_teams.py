"""Teams: Workflows envelopes with an Adaptive Card 1.5, validated by the adaptivecards library, within 24 KiB."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from relay.model import EventKind
from relay.render import render
from relay.render.budget import fit_rows_first, largest_fitting
from relay.render.markup import macros
from relay.render.teams import TEAMS_MAX_BYTES
from tests import factories as f
from tests.render_fixtures import JAPANESE, assert_cards_valid, run_card_validator
from tests.teams_card import card_of, cell_texts, elements, markdown_texts, texts, vm_rows

LABELS = macros("text", "common/labels.j2")
# The test VMs' self-service deadline, 2026-01-23 07:30 UTC, is 76.5 hours after f.NOW.
DEADLINE = f.SELF_SERVICE.end


def teams(notification, language="both"):
    return render(notification, f.receiver("teams", language))


def state_label(key: str, langs: tuple[str, ...] = ("ja", "en")) -> str:
    return " / ".join(str(LABELS.state(key, lang)) for lang in langs)


def folded(body: bytes) -> list[str]:
    """The lines behind the card's ShowCard button."""
    (show,) = [a for a in card_of(body).get("actions", []) if a["type"] == "Action.ShowCard"]
    return texts(json.dumps({"attachments": [{"content": show["card"]}]}).encode())


def test_every_card_is_a_valid_adaptive_card(tmp_path):
    envelopes = {
        f"{name}-{language}": teams(make(), language).body
        for name, make in f.SCENARIOS.items()
        for language in f.LANGUAGES
    }
    assert len(envelopes) == len(f.SCENARIOS) * 3
    assert_cards_valid(envelopes, tmp_path)


def _first(card, kind):
    return next(e for e in elements(card) if e["type"] == kind)


BROKEN = {
    "unknown element": (
        lambda card: card["body"].append({"type": "Marquee", "text": "x"}),
        'Unknown element type "Marquee"',
    ),
    "wrong version": (lambda card: card.update(version="1.6"), 'version is "1.6", not "1.5"'),
    "old version": (lambda card: card.update(version="1.2"), 'version is "1.2", not "1.5"'),
    "unknown property": (
        lambda card: card["body"][0]["items"][0].update(colour="Red"),
        'unknown property "colour" on TextBlock',
    ),
    "unknown text run property": (
        lambda card: _first(card, "TextRun").update(wrap=True),
        'unknown property "wrap" on TextRun',
    ),
    "unknown property in the folded card": (
        lambda card: card["actions"][1]["card"]["body"][0].update(colour="Red"),
        'unknown property "colour" on RichTextBlock',
    ),
    "invalid value": (
        lambda card: card["body"][0]["items"][0].update(color="Purple"),
        'Invalid value "Purple" for property "color"',
    ),
    "unknown action": (
        lambda card: card["actions"].append({"type": "Action.Launch", "title": "x"}),
        "Action.Launch",
    ),
}


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_the_validator_rejects_a_broken_card(tmp_path, breakage):
    break_card, complaint = BROKEN[breakage]
    envelope = json.loads(teams(f.planned()).body)
    break_card(envelope["attachments"][0]["content"])
    result = run_card_validator({"broken": json.dumps(envelope).encode()}, tmp_path)
    assert result.returncode == 1, result.stdout
    assert complaint in result.stderr


@pytest.mark.parametrize(
    "break_envelope, complaint",
    [
        (lambda e: e["attachments"][0].update(contentType="application/vnd.microsoft.teams.card.o365connector"), "contentType"),
        (lambda e: e.update(summary=["not", "text"]), "summary is not a string"),
        (lambda e: e.update(title="x"), 'unknown envelope property "title"'),
    ],
    ids=["content type", "summary", "unknown property"],
)
def test_the_validator_rejects_a_wrong_envelope(tmp_path, break_envelope, complaint):
    envelope = json.loads(teams(f.planned()).body)
    break_envelope(envelope)
    result = run_card_validator({"envelope": json.dumps(envelope).encode()}, tmp_path)
    assert result.returncode == 1
    assert complaint in result.stderr


def test_the_envelope_is_the_workflows_shape():
    message = teams(f.planned())
    assert message.content_type == "application/json"
    envelope = json.loads(message.body)
    assert envelope["type"] == "message"
    (attachment,) = envelope["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"], card["msteams"]) == ("AdaptiveCard", "1.5", {"width": "Full"})
    open_url, show_original = card["actions"]
    assert open_url == {
        "type": "Action.OpenUrl", "title": "Azure ポータルで開く / Open in Azure portal", "url": "https://app.azure.com/h/XY12-3ZQ/0a1666"
    }
    assert show_original["type"] == "Action.ShowCard"
    assert show_original["title"] == "Azure からのお知らせ（原文）を表示 / Show Azure's original message"


def test_message_keys_and_summary():
    n = f.planned()
    message = teams(n)
    assert message.notification_key == n.event.dedup_key == "xy12-3zq/11223344"
    assert message.thread_key == "XY12-3ZQ"
    assert message.summary == "maintenance Planned XY12-3ZQ vms=6"
    assert "\n" not in message.summary


@pytest.mark.parametrize(
    "overrides",
    [dict(tracking_id=None), dict(subscription_ids=())],
    ids=["no tracking id", "no subscription"],
)
def test_no_portal_link_without_tracking_id_or_subscription(overrides):
    card = card_of(teams(f.notification(f.maintenance_event(**overrides))).body)
    assert [a["type"] for a in card["actions"]] == ["Action.ShowCard"]
    assert "app.azure.com" not in json.dumps(card)


# --- The head: headline first, then the kind of news, then Azure's title ---------------------------------


def test_the_headline_comes_first_and_is_the_preview():
    """Teams previews a Workflows card as "Card" unless its first TextBlock says more (MicrosoftDocs/msteams-docs
    #11730): the headline is that TextBlock, and the card's fallbackText and the message's summary as well."""
    body = teams(f.planned(), "ja").body
    envelope, card = json.loads(body), card_of(body)
    headline = "【要対応 2 台】期限 1/23(金) 16:30 JST（あと3日4時間）東日本 VM 再起動 XY12-3ZQ"
    first = next(e for e in elements(card["body"]) if e["type"] in ("TextBlock", "RichTextBlock"))
    assert first == {"type": "TextBlock", "text": headline, "wrap": True, "size": "Large", "weight": "Bolder", "color": "Default"}
    assert card["fallbackText"] == envelope["summary"] == headline
    assert texts(body)[:3] == [headline, "【計画メンテナンス】予定", "Planned maintenance for Virtual Machines - Japan East"]


def test_both_languages_lead_with_both_headlines_japanese_first():
    head = card_of(teams(f.planned()).body)["body"][0]["items"]
    assert [i.get("text") for i in head[:4]] == [
        "【要対応 2 台】期限 1/23(金) 16:30 JST（あと3日4時間）東日本 VM 再起動 XY12-3ZQ",
        "[Action: 2 VMs] by Fri 23 Jan 16:30 JST (3d 4h left) Japan East VM reboot XY12-3ZQ",
        "【計画メンテナンス】予定",
        "[Planned maintenance] Planned",
    ]
    assert [(i["size"], i["weight"]) for i in head[:2]] == [("Large", "Bolder"), ("Medium", "Bolder")]
    envelope = json.loads(teams(f.planned()).body)
    assert envelope["summary"] == head[0]["text"]  # the lead language's headline


@pytest.mark.parametrize(
    "hours_left, color, style",
    [(6, "Attention", "attention"), (48, "Warning", "warning"), (76.5, "Default", "emphasis")],
    ids=["under a day", "under three days", "later"],
)
def test_the_headline_colour_follows_the_earliest_deadline(hours_left, color, style):
    n = f.notification(now=DEADLINE - timedelta(hours=hours_left))
    head = card_of(teams(n).body)["body"][0]
    assert head["style"] == style
    assert [i["color"] for i in head["items"][:2]] == [color, color]


def test_emergency_maintenance_is_marked():
    card = card_of(teams(f.emergency()).body)
    head = card["body"][0]
    assert head["style"] == "attention"
    assert head["items"][0]["color"] == head["items"][1]["color"] == "Attention"
    assert [i.get("text") for i in head["items"][2:4]] == ["【緊急メンテナンス】予定", "[Emergency maintenance] Planned"]
    assert card["actions"][0]["url"] == "https://app.azure.com/h/EM99-7KL/0a1666"


def test_news_without_vms_is_headed_by_its_kind_once():
    head = card_of(teams(f.incident()).body)["body"][0]["items"]
    assert [text for i in head if (text := i.get("text"))] == ["【サービスの問題】対応中", "[Service issue] Active"]


# --- The body ---------------------------------------------------------------------------------------


def test_planned_maintenance_in_japanese():
    body = teams(f.planned(), "ja").body
    lines = texts(body)
    joined = "\n".join(lines)
    assert "**メンテナンス全体の期間**：2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）" in lines
    assert "追跡 ID：XY12-3ZQ" in lines
    for key in ("start_now", "retry_now", "scheduled", "retry_later", "already_updated", "unknown"):
        assert str(LABELS.state(key, "ja")) in joined, key
    assert "期限 あと3日4時間" in lines  # the deadline 2026-01-23 07:30 UTC, seen from 2026-01-20 03:00 UTC
    assert "動的パブリック IP" in joined
    assert "次に起動したときにメンテナンスされる" in joined
    assert "Azure からのお知らせ（原文）を表示" in lines


def test_english_has_no_japanese():
    for name, make in f.SCENARIOS.items():
        lines = texts(teams(make(), "en").body)
        assert not [t for t in lines if JAPANESE.search(t)], name
    lines = texts(teams(f.planned(), "en").body)
    assert lines[:2] == ["[Action: 2 VMs] by Fri 23 Jan 16:30 JST (3d 4h left) Japan East VM reboot XY12-3ZQ",
                         "[Planned maintenance] Planned"]
    for key in ("start_now", "retry_now", "scheduled", "retry_later", "already_updated", "unknown"):
        assert str(LABELS.state(key, "en")) in "\n".join(lines), key
    assert "Show Azure's original message" in lines


def test_both_languages_put_japanese_first():
    joined = "\n".join(texts(teams(f.planned(), "both").body))
    assert joined.index("【計画メンテナンス】予定") < joined.index("[Planned maintenance] Planned")
    assert joined.index("必要な対応") < joined.index("What to do")
    assert state_label("start_now") in joined


def test_our_bold_is_a_text_runs_weight_where_the_line_holds_payload():
    card = card_of(teams(f.planned(), "en").body)
    advice = next(e for e in elements(card) if e["type"] == "RichTextBlock" and "can be maintained now" in json.dumps(e))
    bold = [run["text"] for run in advice["inlines"] if isinstance(run, dict) and run.get("weight") == "Bolder"]
    assert bold == ["2 VMs can be maintained now: run it before the self-service deadline (earliest Fri 23 Jan 16:30 JST, 3d 4h left)"]
    assert not [t for t in texts(teams(f.planned(), "en").body) if "**" in t and not t.startswith("**")]


def test_vm_rows_are_most_urgent_first():
    n = f.planned()
    rows = vm_rows(teams(n).body)
    assert [cell_texts(row, 0)[0] for row in rows] == [a.vm.name for a in n.enriched.vms]
    first = rows[0]
    name = first["columns"][0]["items"][0]
    assert name == {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "vm-web-01", "weight": "Bolder"}]}
    assert cell_texts(first, 0)[1:] == ["rg-web · 0a1b2c3d…", "⚠ 単一構成（再起動で停止）、動的パブリック IP"]
    assert first["columns"][1]["items"][0] == {
        "type": "TextBlock", "text": state_label("start_now"), "wrap": True, "weight": "Bolder", "color": "Warning"
    }
    assert cell_texts(first, 2) == [
        "セルフサービス: 2026年1月6日(火) 9:00〜1月23日(金) 16:30 JST",
        "予定メンテナンス: 2026年1月25日(日) 0:00〜12:00 JST",
    ]


@pytest.mark.parametrize(
    "hours_left, color",
    [(6, "Attention"), (23.9, "Attention"), (24, "Warning"), (71.9, "Warning"), (72, None), (76.5, None)],
)
def test_a_rows_deadline_is_red_under_a_day_and_amber_under_three(hours_left, color):
    n = f.notification(now=DEADLINE - timedelta(hours=hours_left))
    deadline = vm_rows(teams(n, "ja").body)[0]["columns"][1]["items"][1]
    assert deadline["text"].startswith("期限 ")
    assert deadline.get("color") == color


def test_rescheduled_update_says_old_and_new_window():
    lines = texts(teams(f.rescheduled_update()).body)
    assert "【計画メンテナンス】日程変更（更新）" in lines[:4]
    assert (
        "日程が変更されました: 2026年1月18日(日) 0:00〜12:00 JST（2026-01-17 15:00–2026-01-18 03:00 UTC）"
        " → 2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）"
    ) in lines
    assert "The window has moved: Sun 18 Jan 2026 00:00–12:00 JST (2026-01-17 15:00–2026-01-18 03:00 UTC) → " \
        "Sun 25 Jan 2026 00:00–12:00 JST (2026-01-24 15:00–2026-01-25 03:00 UTC)" in lines
    assert any(t.startswith("**変更前の") and t.endswith("：2026年1月18日(日) 0:00〜12:00 JST（2026-01-17 15:00–2026-01-18 03:00 UTC）")
               for t in lines)
    assert "状況：日程変更（前回: 予定）" in lines


@pytest.mark.parametrize(
    "make, ja, en",
    [
        (f.complete, "このメンテナンスは完了しました。", "This maintenance is complete."),
        (f.canceled, "このメンテナンスはキャンセルされました。", "This maintenance has been canceled."),
        (f.in_progress, "メンテナンスが始まりました（実施中）。", "The maintenance has started (in progress)."),
    ],
    ids=["complete", "canceled", "in progress"],
)
def test_stage_changes_are_said_plainly(make, ja, en):
    lines = texts(teams(make()).body)
    assert ja in lines and en in lines
    assert lines.index(ja) < lines.index(en)


def test_canceled_needs_no_action():
    lines = texts(teams(f.canceled(), "ja").body)
    assert lines[0] == "【キャンセル】東日本 VM 再起動 XY12-3ZQ"
    assert "az vm perform-maintenance" not in "\n".join(lines)


def test_incident_has_no_vm_table_but_header_window_communication_link():
    n = f.incident()
    assert n.event.kind is EventKind.INCIDENT
    body = teams(n).body
    lines = texts(body)
    assert vm_rows(body) == []
    assert lines[0] == "【サービスの問題】対応中"
    assert "**メンテナンス全体の期間**：2026年1月20日(火) 10:10 JST〜終了未定（2026-01-20 01:10–? UTC）" in lines
    # Without our own VM list, Azure's text is the news: shown, not folded.
    assert any(t.startswith("Starting at 01:10 UTC on 20 Jan 2026") for t in lines)
    assert [a["type"] for a in card_of(body)["actions"]] == ["Action.OpenUrl"]
    assert card_of(body)["actions"][0]["url"] == "https://app.azure.com/h/AB3C-DEF/0a1666"
    assert not [t for t in lines if "対象 VM" in t]


def test_resource_health_shows_resource_change_and_cause():
    lines = texts(teams(f.resource_health()).body)
    assert lines[0] == "【リソース正常性】使用不可"
    assert "リソース：vm-app-07（rg-app）" in lines
    assert "**正常性**：使用可能 → 使用不可" in lines
    assert "原因：Azure 側（プラットフォーム）、Downtime" in lines
    assert "**Health**: Available → Unavailable" in lines
    card = card_of(teams(f.resource_health()).body)
    assert card["actions"][0]["url"].startswith("https://portal.azure.com/#resource/subscriptions/")


def test_no_vms_of_ours_says_so_and_how_we_looked():
    lines = texts(teams(f.zero_vms()).body)
    assert (
        "このイベントの対象となる管理対象の VM は見つかりませんでした（確認方法: 対象のサブスクリプションとリージョン）。"
        in lines
    )
    assert "None of our VMs were found in this event (looked up by the subscriptions and regions of the event)." in lines
    assert vm_rows(teams(f.zero_vms()).body) == []


# --- Azure's own text ---------------------------------------------------------------------------------


def test_azures_text_is_folded_behind_a_button_a_paragraph_a_block_a_line_each():
    communication = "What is happening\n\nAzure will update hosts.\n\nWhen\n\n- Self-service: from 6 Jan\n- Scheduled: from 12 Feb"
    body = teams(f.notification(f.maintenance_event(communication=communication)), "en").body
    assert folded(body) == ["What is happening", "Azure will update hosts.", "When", "- Self-service: from 6 Jan",
                            "- Scheduled: from 12 Feb"]
    show = card_of(body)["actions"][-1]
    blocks = show["card"]["body"]
    assert {b["type"] for b in blocks} == {"RichTextBlock"}
    assert [b.get("spacing") for b in blocks] == [None, "Medium", "Medium", "Medium", None]  # a list item: no gap
    card = card_of(body)
    outside = texts(json.dumps({"attachments": [{"content": {"body": card["body"]}}]}).encode())
    assert not [t for t in outside if "What is happening" in t]  # only behind the button


def test_ten_thousand_vms_fit_the_budget_with_the_rest_counted():
    n = f.ten_thousand()
    for language in f.LANGUAGES:
        body = teams(n, language).body
        assert len(body) <= TEAMS_MAX_BYTES
        assert len(body) > TEAMS_MAX_BYTES - 2048, "the card should be filled with rows, not cut short by a guess"
        rows = vm_rows(body)
        assert 10 <= len(rows) < 10_000
        assert [cell_texts(row, 0)[0] for row in rows] == [a.vm.name for a in n.enriched.vms[: len(rows)]]
        lines = texts(body)
        rest = f"{10_000 - len(rows):,}"
        if language != "en":
            assert f"ほか {rest} 台（全件は Azure ポータルの VM 一覧の［メンテナンス］列で確認できます）" in lines
        if language != "ja":
            assert f"and {rest} more (see the Maintenance columns of the VM list in the Azure portal)" in lines


def test_a_huge_communication_is_cut_and_the_card_still_fits():
    n = f.notification(f.maintenance_event(communication="Maintenance details. " * 5000))
    body = teams(n).body
    assert len(body) <= TEAMS_MAX_BYTES
    (communication,) = folded(body)
    assert communication.endswith("…（全文は Azure ポータルでご覧ください）")
    assert len(communication) < 1600


def test_azures_text_yields_to_the_vm_rows():
    """Folded away, Azure's text is worth less than a VM row: it gets only the room the rows leave."""
    long_text = f.maintenance_event(communication="Maintenance details. " * 100)
    body = teams(f.notification(long_text, f.many_vms(10_000))).body
    without_text = teams(f.notification(f.maintenance_event(communication=""), f.many_vms(10_000))).body
    assert len(vm_rows(body)) == len(vm_rows(without_text))
    assert not [t for t in texts(body) if t.startswith("Maintenance details.") and len(t) > 650]  # 600 at most
    shown = [t for t in folded(teams(f.notification(long_text)).body) if t.startswith("Maintenance details.")]
    assert shown and all(len(t) <= 1600 for t in shown)  # with room left, the text is there, cut to its budget
    assert [a["type"] for a in card_of(teams(f.planned()).body)["actions"]] == ["Action.OpenUrl", "Action.ShowCard"]


def test_fit_rows_first_fills_rows_then_text():
    def payload(k: int, limit: int) -> int:
        return 10 * k + limit  # a size

    assert fit_rows_first(100, payload, lambda size: size <= 95, (30, 10, 0)) == 90  # 9 rows; too little left for text
    assert fit_rows_first(5, payload, lambda size: size <= 95, (30, 10, 0)) == 80  # all rows, and the longest text
    assert fit_rows_first(5, payload, lambda size: size <= 65, (30, 10, 0)) == 60  # all rows, and the shorter text
    assert fit_rows_first(5, payload, lambda size: size < 0, (30, 10, 0)) is None


def test_largest_fitting_finds_the_boundary():
    assert largest_fitting(100, lambda k: k <= 37) == 37
    assert largest_fitting(100, lambda k: True) == 100
    assert largest_fitting(5, lambda k: k == 0) == 0
    assert largest_fitting(5, lambda k: False) is None
    probes = []
    largest_fitting(10_000, lambda k: probes.append(k) or k <= 1234)
    assert len(probes) <= 16


def test_markdown_is_only_our_own():
    """Every line Teams reads as markdown is the relay's own; payload text sits in TextRuns."""
    n = f.planned()
    n = replace(n, enriched=replace(n.enriched, event=replace(n.enriched.event, title="Title_with_underscores")))
    body = teams(n).body
    assert not [t for t in markdown_texts(body) if "Title_with_underscores" in t or "vm-web-01" in t]
