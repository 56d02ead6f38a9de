"""Slack: Block Kit messages that slack_sdk's models accept, within Slack's limits."""
from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackObjectFormationError

from relay.render import render
from relay.render.slack import SLACK_MAX_BLOCKS, SLACK_MAX_SECTION, SLACK_MAX_TOTAL
from tests import factories as f
from tests.render_fixtures import JAPANESE, slack_payload, slack_texts, strings


def slack(notification, language="both"):
    message = render(notification, f.receiver("slack", language))
    assert message.content_type == "application/json"
    return slack_payload(message.body)


def within_limits(payload):
    blocks = payload["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SLACK_MAX_SECTION
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert len(json.dumps(blocks, ensure_ascii=False)) <= SLACK_MAX_TOTAL
    assert 0 < len(payload["text"]) <= 3000


@pytest.mark.parametrize("name", list(f.SCENARIOS))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_every_message_parses_with_block_kit_models_and_respects_limits(name, language):
    within_limits(slack(f.SCENARIOS[name](), language))


def test_the_model_check_can_fail():
    """The same check the tests apply rejects a section over Slack's 3,000 characters."""
    payload = {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}
    with pytest.raises(SlackObjectFormationError):
        slack_payload(json.dumps(payload).encode())


def test_layout_of_a_planned_maintenance():
    payload = slack(f.planned(), "ja")
    blocks = payload["blocks"]
    headline = "【要対応 2 台】期限 1/23(金) 16:30 JST（あと3日4時間）東日本 VM 再起動 XY12-3ZQ"
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": True}}
    assert blocks[1]["text"]["text"] == "【計画メンテナンス】予定\n*Planned maintenance for Virtual Machines - Japan East*"
    facts = blocks[2]["text"]["text"].split("\n")
    assert facts[0] == "*状況*: 予定"
    assert facts[1] == "*メンテナンス全体の期間*: 2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）"
    assert blocks[3]["text"]["text"].startswith(
        "*必要な対応*\n• *今すぐ開始できる VM（2 台）は、セルフサービス期限（最も早いもの: 1/23(金) 16:30 JST、あと3日4時間）までに*")
    commands = blocks[4]["text"]["text"].split("\n")
    assert commands[0] == "*VM ごとのコマンド（今すぐ開始）*"
    assert commands[1] == ("• *vm-web-01*（期限 1/23(金) 16:30 JST、あと3日4時間）: "
                           "`az vm perform-maintenance -g rg-web -n vm-web-01 --subscription 0a1b2c3d-1111-2222-3333-444455556666`")
    assert commands[-1] == "PowerShell の場合: `Restart-AzVM -PerformMaintenance -ResourceGroupName rg-web -Name vm-web-01`"
    table = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "対象 VM（" in b["text"]["text"])
    lines = table.split("\n")
    assert lines[1] == "• *vm-web-01*  rg-web · 0a1b2c3d… — *今すぐ開始*（期限 あと3日4時間）"
    assert lines[2] == (
        "\u2003セルフサービス: 2026年1月6日(火) 9:00〜1月23日(金) 16:30 JST ／ 予定メンテナンス: 2026年1月25日(日) 0:00〜12:00 JST"
        "  :warning: 単一構成（再起動で停止）、動的パブリック IP"
    )
    assert blocks[-1] == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Azure ポータルで開く"},
                "url": "https://app.azure.com/h/XY12-3ZQ/0a1666",
                "action_id": "open_portal",
            }
        ],
    }
    assert payload["text"] == headline


def test_english_has_no_japanese():
    for name, make in f.SCENARIOS.items():
        texts = slack_texts(slack(make(), "en"))
        assert not [t for t in texts if JAPANESE.search(t)], name
    joined = "\n".join(slack_texts(slack(f.planned(), "en")))
    for label in ("Start now", "Retry now", "Scheduled", "Retry later", "Already updated", "Unknown (stopped, deallocated)"):
        assert label in joined


def test_japanese_labels_and_both_languages_in_order():
    ja = "\n".join(slack_texts(slack(f.planned(), "ja")))
    for label in ("今すぐ開始", "今すぐやり直す（Retry now）", "スケジュール済み", "後で再試行（Retry later）", "更新済み",
                  "状態不明（停止済み (割り当て解除)）"):
        assert label in ja
    both = slack(f.planned(), "both")
    assert both["blocks"][0]["text"]["text"].startswith("【要対応 2 台】期限 1/23(金) 16:30 JST")
    assert both["blocks"][1]["text"]["text"].startswith("*[Action: 2 VMs] by Fri 23 Jan 16:30 JST (3d 4h left)")
    assert "【計画メンテナンス】予定 / [Planned maintenance] Planned" in both["blocks"][1]["text"]["text"]
    assert both["text"].startswith("【要対応 2 台】") and " / [Action: 2 VMs] " in both["text"]
    joined = "\n".join(strings(both["blocks"]))
    assert joined.index("*必要な対応*") < joined.index("*What to do*")


def test_emergency_header_is_marked():
    blocks = slack(f.emergency())["blocks"]
    assert blocks[0]["text"]["text"].startswith("🚨 【要対応 2 台】")
    assert "【緊急メンテナンス】予定 / [Emergency maintenance] Planned" in blocks[1]["text"]["text"]


def test_update_and_resource_health_wording():
    rescheduled = "\n".join(strings(slack(f.rescheduled_update(), "en")["blocks"]))
    assert ":warning: *The window has moved: Sun 18 Jan 2026 00:00–12:00 JST" in rescheduled
    health = "\n".join(strings(slack(f.resource_health(), "ja")["blocks"]))
    assert "*正常性*: 使用可能 → 使用不可" in health
    assert "*リソース*: vm-app-07（rg-app）" in health


def test_incident_and_no_vms():
    incident = slack(f.incident())
    assert not any("対象 VM（" in s for s in strings(incident["blocks"]))
    assert incident["blocks"][-1]["elements"][0]["url"] == "https://app.azure.com/h/AB3C-DEF/0a1666"
    none = "\n".join(strings(slack(f.zero_vms(), "ja")["blocks"]))
    assert "管理対象の VM は見つかりませんでした（確認方法: 対象のサブスクリプションとリージョン）" in none


def test_ten_thousand_vms_fit_with_the_rest_counted():
    n = f.ten_thousand()
    for language in f.LANGUAGES:
        payload = slack(n, language)
        within_limits(payload)
        texts = strings(payload["blocks"])
        shown = [line for t in texts for line in t.split("\n") if line.startswith("• *vm-") and "`az " not in line]
        assert len(shown) >= 20
        assert [line.split("*")[1] for line in shown] == [a.vm.name for a in n.enriched.vms[: len(shown)]]
        rest = f"{10_000 - len(shown):,}"
        context = next(b for b in payload["blocks"] if b["type"] == "context")
        expected = {
            "ja": [f"ほか {rest} 台（全件は Azure ポータルの VM 一覧の［メンテナンス］列で確認できます）"],
            "en": [f"and {rest} more (see the Maintenance columns of the VM list in the Azure portal)"],
        }
        wanted = expected["ja"] * (language != "en") + expected["en"] * (language != "ja")
        assert [e["text"] for e in context["elements"]] == wanted
        # Filled, not cut short by a guess: the serialized blocks use most of the budget.
        assert len(json.dumps(payload["blocks"], ensure_ascii=False)) > SLACK_MAX_TOTAL - 600


def test_a_long_communication_stays_within_a_section():
    n = f.notification(f.maintenance_event(communication="A&B <x> " * 2000))
    payload = slack(n)
    within_limits(payload)
    plain = [b for b in payload["blocks"] if b["type"] == "section" and b["text"]["type"] == "plain_text"]
    assert len(plain) == 1
    assert plain[0]["text"]["text"].startswith("A&amp;B &lt;x&gt; A&amp;B")
    assert plain[0]["text"]["text"].endswith("…（全文は Azure ポータルでご覧ください）")
