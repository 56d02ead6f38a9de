"""Teams: Workflows envelopes with an Adaptive Card 1.5, validated by the adaptivecards library, within 24 KiB."""
from __future__ import annotations

import json

import pytest

from relay.model import EventKind
from relay.render import render
from relay.render.budget import largest_fitting
from relay.render.teams import TEAMS_MAX_BYTES
from tests import factories as f
from tests.render_fixtures import JAPANESE, card_of, card_texts, run_card_validator, vm_rows, assert_cards_valid


def teams(notification, language="both"):
    return render(notification, f.receiver("teams", language))


def test_every_card_is_a_valid_adaptive_card(tmp_path):
    envelopes = {
        f"{name}-{language}": teams(make(), language).body
        for name, make in f.SCENARIOS.items()
        for language in f.LANGUAGES
    }
    assert len(envelopes) == len(f.SCENARIOS) * 3
    assert_cards_valid(envelopes, tmp_path)


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
    "unknown fact property": (
        lambda card: next(b for b in card["body"][1]["items"] if b["type"] == "FactSet")["facts"][0].update(link="x"),
        'unknown property "link"',
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


def test_the_validator_rejects_a_wrong_envelope(tmp_path):
    envelope = json.loads(teams(f.planned()).body)
    envelope["attachments"][0]["contentType"] = "application/vnd.microsoft.teams.card.o365connector"
    result = run_card_validator({"envelope": json.dumps(envelope).encode()}, tmp_path)
    assert result.returncode == 1
    assert "contentType" in result.stderr


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
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Azure ポータルで開く / Open in Azure portal", "url": "https://app.azure.com/h/XY12-3ZQ/0a1666"}
    ]


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
    assert "actions" not in card
    assert "app.azure.com" not in json.dumps(card)


def test_planned_maintenance_in_japanese():
    texts = card_texts(teams(f.planned(), "ja").body)
    joined = "\n".join(texts)
    assert texts[0] == "【計画メンテナンス】予定"
    assert "2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）" in texts
    for label in ("今すぐ開始", "今すぐ再試行", "スケジュール済み", "後で再試行", "更新済み", "対象外"):
        assert label in joined
    assert "期限 あと3日4時間" in texts  # the deadline 2026-01-23 07:30 UTC, seen from 2026-01-20 03:00 UTC
    assert "az vm perform-maintenance" in joined
    assert "約 30 分の停止" in joined
    assert "動的パブリック IP" in joined
    assert "次に起動したときにメンテナンスされる" in joined
    assert "Azure からのお知らせ（原文）" in texts


def test_english_has_no_japanese():
    for name, make in f.SCENARIOS.items():
        texts = card_texts(teams(make(), "en").body)
        assert not [t for t in texts if JAPANESE.search(t)], name
    texts = card_texts(teams(f.planned(), "en").body)
    assert texts[0] == "[Planned maintenance] Planned"
    for label in ("Start now", "Retry now", "Scheduled", "Retry later", "Already updated", "Not in a wave"):
        assert label in "\n".join(texts)


def test_both_languages_put_japanese_first():
    joined = "\n".join(card_texts(teams(f.planned(), "both").body))
    assert joined.index("【計画メンテナンス】予定") < joined.index("[Planned maintenance] Planned")
    assert joined.index("必要な対応") < joined.index("What to do")
    assert "今すぐ開始 / Start now" in joined


def test_vm_rows_are_most_urgent_first():
    n = f.planned()
    rows = vm_rows(teams(n).body)
    names = [row["columns"][0]["items"][0]["text"] for row in rows]
    assert names == [f"**{a.vm.name}**" for a in n.enriched.vms]
    first = rows[0]
    assert first["columns"][0]["items"][1]["text"] == "rg-web · 0a1b2c3d…"
    assert first["columns"][0]["items"][2]["text"] == "⚠ 単一構成（再起動で停止）、動的パブリック IP"
    assert first["columns"][1]["items"][0] == {
        "type": "TextBlock", "text": "今すぐ開始 / Start now", "wrap": True, "weight": "Bolder", "color": "Warning"
    }
    assert [i["text"] for i in first["columns"][2]["items"]] == [
        "セルフサービス: 2026年1月6日(火) 9:00〜1月23日(金) 16:30 JST",
        "スケジュール: 2026年1月25日(日) 0:00〜12:00 JST",
    ]


def test_emergency_maintenance_is_marked():
    card = card_of(teams(f.emergency()).body)
    head = card["body"][0]
    assert head["style"] == "attention"
    assert head["items"][0]["text"] == "【緊急メンテナンス】予定"
    assert head["items"][0]["color"] == "Attention"
    assert head["items"][1]["text"] == "[Emergency maintenance] Planned"
    assert card["actions"][0]["url"] == "https://app.azure.com/h/EM99-7KL/0a1666"


def test_rescheduled_update_says_old_and_new_window():
    texts = card_texts(teams(f.rescheduled_update()).body)
    assert texts[0] == "【計画メンテナンス】日程変更（更新）"
    assert (
        "日程が変更されました: 2026年1月18日(日) 0:00〜12:00 JST（2026-01-17 15:00–2026-01-18 03:00 UTC）"
        " → 2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）"
    ) in texts
    assert "The window has moved: Sun 18 Jan 2026 00:00–12:00 JST (2026-01-17 15:00–2026-01-18 03:00 UTC) → " \
        "Sun 25 Jan 2026 00:00–12:00 JST (2026-01-24 15:00–2026-01-25 03:00 UTC)" in texts
    assert "変更前の期間" in texts
    assert "日程変更（前回: 予定）" in texts


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
    texts = card_texts(teams(make()).body)
    assert ja in texts and en in texts
    assert texts.index(ja) < texts.index(en)


def test_canceled_needs_no_action():
    joined = "\n".join(card_texts(teams(f.canceled(), "ja").body))
    assert "対応は不要です" in joined
    assert "az vm perform-maintenance" not in joined


def test_incident_has_no_vm_table_but_header_window_communication_link():
    n = f.incident()
    assert n.event.kind is EventKind.INCIDENT
    body = teams(n).body
    texts = card_texts(body)
    assert vm_rows(body) == []
    assert texts[0] == "【サービスの問題】対応中"
    assert "2026年1月20日(火) 10:10 JST〜終了未定（2026-01-20 01:10–? UTC）" in texts
    assert any(t.startswith("Starting at 01:10 UTC on 20 Jan 2026") for t in texts)
    assert card_of(body)["actions"][0]["url"] == "https://app.azure.com/h/AB3C-DEF/0a1666"
    assert "対象 VM" not in texts


def test_resource_health_shows_resource_change_and_cause():
    texts = card_texts(teams(f.resource_health()).body)
    assert texts[0] == "【リソース正常性】使用不可"
    assert "vm-app-07（rg-app）" in texts
    assert "使用可能 → 使用不可" in texts
    assert "Azure 側（プラットフォーム）、Downtime" in texts
    assert "Available → Unavailable" in texts
    card = card_of(teams(f.resource_health()).body)
    assert card["actions"][0]["url"].startswith("https://portal.azure.com/#resource/subscriptions/")


def test_no_vms_of_ours_says_so_and_how_we_looked():
    texts = card_texts(teams(f.zero_vms()).body)
    assert (
        "このイベントの対象となる管理対象の VM は見つかりませんでした（確認方法: 対象のサブスクリプションとリージョン）。"
        in texts
    )
    assert "None of our VMs were found in this event (looked up by the subscriptions and regions of the event)." in texts
    assert vm_rows(teams(f.zero_vms()).body) == []


def test_ten_thousand_vms_fit_the_budget_with_the_rest_counted():
    n = f.ten_thousand()
    for language in f.LANGUAGES:
        body = teams(n, language).body
        assert len(body) <= TEAMS_MAX_BYTES
        assert len(body) > TEAMS_MAX_BYTES - 2048, "the card should be filled with rows, not cut short by a guess"
        rows = vm_rows(body)
        assert 10 <= len(rows) < 10_000
        shown = [row["columns"][0]["items"][0]["text"] for row in rows]
        assert shown == [f"**{a.vm.name}**" for a in n.enriched.vms[: len(rows)]]
        texts = card_texts(body)
        rest = f"{10_000 - len(rows):,}"
        if language != "en":
            assert f"ほか {rest} 台（全件は Azure ポータルの VM 一覧の［メンテナンス］列で確認できます）" in texts
        if language != "ja":
            assert f"and {rest} more (see the Maintenance columns of the VM list in the Azure portal)" in texts


def test_a_huge_communication_is_cut_and_the_card_still_fits():
    n = f.notification(f.maintenance_event(communication="Maintenance details. " * 5000), f.many_vms(500))
    body = teams(n).body
    assert len(body) <= TEAMS_MAX_BYTES
    texts = card_texts(body)
    communication = texts[-2]
    assert communication.endswith("…（全文は Azure ポータルでご覧ください）")
    assert len(communication) < 1600


def test_largest_fitting_finds_the_boundary():
    assert largest_fitting(100, lambda k: k <= 37) == 37
    assert largest_fitting(100, lambda k: True) == 100
    assert largest_fitting(5, lambda k: k == 0) == 0
    assert largest_fitting(5, lambda k: False) is None
    probes = []
    largest_fitting(10_000, lambda k: probes.append(k) or k <= 1234)
    assert len(probes) <= 16
