"""The message of an Azure Monitor alert in every channel and language: severity with its colour, rule, targets,
what was measured, fired and resolved in JST with UTC, how long it lasted, links into the portal; valid Adaptive
Cards (the adaptivecards package) and Block Kit (slack_sdk's models), within each channel's budget."""
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.enrich import NoInventory, enrich
from relay.model import Criterion, Notification, PriorNotice, Window
from relay.render import render
from relay.render.alert import CriterionRow
from relay.render.markup import FMT, macros, plain
from relay.render.teams import TEAMS_MAX_BYTES
from relay.render.view import build_view
from tests import factories as f
from tests.render_fixtures import assert_cards_valid, email_parts, parse_email, slack_payload, slack_texts
from tests.teams_card import card_of, elements, texts

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "common"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "alerts"
NOW = datetime(2027, 1, 14, 4, tzinfo=UTC)


def notification(path: Path, prior: PriorNotice | None = None) -> Notification:
    return Notification(enrich(parse_alert(path.read_bytes()), NoInventory(), NOW), prior)


def rendered(n: Notification, channel: str, language: str = "both"):
    return render(n, f.receiver(channel, language))


def email_text(n: Notification, language: str = "both") -> tuple[str, str, str]:
    message = parse_email(rendered(n, "email", language).body)
    text, html = email_parts(message)
    return str(message["Subject"]), text, html


SAMPLES = sorted([*PAYLOADS.glob("*.json"), *EXAMPLES.glob("0[89]-*.json")])


def test_every_sample_is_a_valid_card_in_every_language(tmp_path):
    envelopes = {f"{path.stem}-{language}": rendered(notification(path), "teams", language).body
                 for path in SAMPLES for language in ("ja", "en", "both")}
    assert all(len(body) <= TEAMS_MAX_BYTES for body in envelopes.values())
    assert_cards_valid(envelopes, tmp_path)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_is_valid_block_kit_and_an_email(path):
    n = notification(path)
    for language in ("ja", "en", "both"):
        payload = slack_payload(rendered(n, "slack", language).body)
        assert len(payload["blocks"]) <= 50
        subject, text, html = email_text(n, language)
        assert subject and text and html


def test_the_headline_names_severity_condition_rule_and_resource_first_in_every_channel():
    n = notification(EXAMPLES / "08-metric-fired.json")
    ja, en = "【Sev1・発生】er-bits-in-low（er-tokyo-01）", "[Sev1 Fired] er-bits-in-low on er-tokyo-01"
    teams = rendered(n, "teams").body
    assert json.loads(teams)["summary"] == ja and texts(teams)[:2] == [ja, en]
    slack = slack_payload(rendered(n, "slack").body)
    assert slack["text"] == f"{ja} / {en}"
    assert slack["blocks"][0]["text"]["text"] == f"🟠 {ja}"
    assert email_text(n)[0] == f"{ja} / {en}"


def test_the_facts_in_both_languages_japanese_first():
    _, text, _ = email_text(notification(EXAMPLES / "08-metric-fired.json"))
    ja, en = text.split("----------------------------------------")
    for line in ("重大度: Sev1（エラー）", "監視条件: 発生", "アラート ルール: er-bits-in-low",
                 "対象リソース: er-tokyo-01 — Microsoft.Network/expressRouteCircuits（rg-network · 11111111…）",
                 "監視サービス: Platform · メトリック",
                 "条件: BitsInPerSecond（平均）< 1,000,000：測定値 1250.5（PeeringType = AzurePrivatePeering）",
                 "評価期間: 5 分、2027年1月14日(木) 11:56〜12:01 JST（2027-01-14 02:56–03:01 UTC）",
                 "発生日時: 2027年1月14日(木) 12:02 JST（2027-01-14 03:02 UTC）"):
        assert line in ja, line
    for line in ("Severity: Sev1 (Error)", "Monitor condition: Fired",
                 "Condition: BitsInPerSecond (Average) < 1,000,000: measured 1250.5 (PeeringType = AzurePrivatePeering)",
                 "Fired: Thu 14 Jan 2027 12:02 JST (2027-01-14 03:02 UTC)"):
        assert line in en, line
    assert "Traffic into the ExpressRoute circuits has dropped" in text  # the rule's description, once


def test_resolved_says_when_and_how_long_it_lasted():
    n = notification(EXAMPLES / "09-metric-resolved.json", PriorNotice("Fired", Window(), NOW))
    subject, text, _ = email_text(n)
    assert subject == ("【Sev1・解決】er-bits-in-low（er-tokyo-01）継続 47分 / "
                       "[Sev1 Resolved] er-bits-in-low on er-tokyo-01 after 47m")
    for line in ("このアラートは解決しました（1/14(木) 12:02 JST に発生、継続時間 47分）。",
                 "解決日時: 2027年1月14日(木) 12:49 JST（2027-01-14 03:49 UTC）", "継続時間: 47分",
                 "This alert has resolved (fired Thu 14 Jan 12:02 JST, lasted 47m).", "Lasted: 47m"):
        assert line in text, line
    assert "条件は解消されました" in text


@pytest.mark.parametrize(("severity", "condition", "color", "style", "mark", "accent"), [
    ("Sev0", "Fired", "Attention", "attention", "🔴", "#a4262c"),
    ("Sev1", "Fired", "Attention", "attention", "🟠", "#c50f1f"),
    ("Sev2", "Fired", "Warning", "warning", "🟡", "#c19c00"),
    ("Sev3", "Fired", "Accent", "emphasis", "🔵", "#0f6cbd"),
    ("Sev4", "Fired", "Default", "emphasis", "⚪", "#616161"),
    (None, "Fired", "Default", "emphasis", "⚪", "#616161"),
    ("Sev0", "Resolved", "Good", "good", "✅", "#107c10"),
])
def test_the_severity_colours_every_channel(severity, condition, color, style, mark, accent):
    n = f.notification(f.alert_event(f.metric_alert(severity=severity, monitor_condition=condition,
                                                    resolved=f.NOW if condition == "Resolved" else None)),
                       lookup="none")
    head = card_of(rendered(n, "teams").body)["body"][0]
    assert head["style"] == style and head["items"][0]["color"] == color
    assert slack_payload(rendered(n, "slack").body)["blocks"][0]["text"]["text"].startswith(mark + " ")
    assert f"border-left:6px solid {accent}" in email_text(n)[2]


def test_links_to_the_alert_the_resource_and_the_log_results():
    n = notification(PAYLOADS / "log-v2.json")
    alert_id = "%2Fsubscriptions%2Faaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e%2Fproviders%2FMicrosoft.AlertsManagement"
    actions = [a for a in elements(card_of(rendered(n, "teams").body)) if a["type"] == "Action.OpenUrl"]
    assert [a["title"] for a in actions] == ["アラートを開く / Open the alert", "リソースを開く / Open the resource",
                                             "ログ検索の結果を開く / Open the log search results"]
    assert actions[0]["url"].startswith("https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/"
                                        f"AlertDetails.ReactView/alertId~/{alert_id}")
    assert actions[1]["url"] == ("https://portal.azure.com/#resource/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
                                 "/resourcegroups/Contoso/providers/Microsoft.Compute/virtualMachines/Contoso/overview")
    assert actions[2]["url"].startswith("https://portal.azure.com#@aaaabbbb-0000-cccc-1111-dddd2222eeee/blade/")
    buttons = slack_payload(rendered(n, "slack", "en").body)["blocks"][-1]["elements"]
    assert [b["url"] for b in buttons] == [a["url"] for a in actions]
    assert len({b["action_id"] for b in buttons}) == 3
    _, text, html = email_text(n)
    assert all(a["url"] in text for a in actions)
    assert "ログ検索の結果で、条件を満たしたレコードを確認してください。" in text


def test_an_alert_of_another_kind_than_an_alerts_management_alert_links_only_its_resource():
    n = notification(PAYLOADS / "test-activity-log.json")  # its alertId is the rule's
    actions = [a for a in elements(card_of(rendered(n, "teams").body)) if a["type"] == "Action.OpenUrl"]
    assert [a["title"] for a in actions] == ["リソースを開く / Open the resource"]


def test_essentials_only_says_so():
    doc = json.loads((PAYLOADS / "metric-static.json").read_text(encoding="utf-8"))
    doc["data"]["essentials"]["monitoringService"] = "VM Insights"
    n = Notification(enrich(parse_alert(json.dumps(doc).encode()), NoInventory(), NOW))
    _, text, _ = email_text(n)
    assert "この種類のアラート（監視サービス: VM Insights）は内容の詳細を読み取れないため" in text
    assert "The details of this kind of alert (monitoring service: VM Insights) cannot be read" in text
    assert "\n条件:" not in text and "Percentage CPU" not in text


def test_payload_text_injects_nothing():
    hostile = "<!channel> *bold* <https://evil.example|click> {{DATE(2027-01-01T00:00:00Z)}}"
    n = f.notification(f.alert_event(f.metric_alert(rule=hostile, criteria=(Criterion(metric=hostile, value=hostile),))),
                       lookup="none")
    slack = slack_payload(rendered(n, "slack").body)
    assert not [t for t in slack_texts(slack) if "<!channel>" in t or "<https://evil" in t]
    card = card_of(rendered(n, "teams").body)
    assert "{{DATE(" not in json.dumps(card, ensure_ascii=False)
    assert not [e for e in elements(card) if e["type"] == "TextBlock" and "<!channel>" in e["text"]]
    _, _, html = email_text(n)
    assert "<https://evil" not in html and "&lt;!channel&gt;" in html


def test_the_longest_alert_fits_every_channel_told_in_brief():
    filler = "&<*_`~メ" * 500
    alert = f.metric_alert(
        rule=filler, severity=filler, service=filler, signal=filler, window_size=filler,
        targets=tuple(f"/subscriptions/{filler}/resourceGroups/{filler}/providers/A.B/{filler}/x{i}" for i in range(40)),
        items=tuple(f"{filler}{i}" for i in range(40)),
        criteria=tuple(Criterion(filler, filler, filler, filler, filler, filler, ((filler, filler),) * 10)
                       for _ in range(10)),
        facts=tuple((key, filler) for key in ("operation", "caller", "description", "labels", "threat", "policy",
                                              "spent", "detector", "rule_group")),
        links=tuple(("results", f"https://portal.azure.com/#{i}{'a' * 2900}") for i in range(6)),
    )
    n = f.notification(f.alert_event(alert, communication=filler * 20, title=filler), lookup="none")
    for language in ("ja", "en", "both"):
        assert len(rendered(n, "teams", language).body) <= TEAMS_MAX_BYTES
        blocks = slack_payload(rendered(n, "slack", language).body)["blocks"]
        assert len(json.dumps(blocks, ensure_ascii=False)) <= 12_000
        assert email_text(n, language)[1]
    brief = texts(rendered(n, "teams").body)  # the whole is far over the budget: in brief, the criteria counted
    assert any("10 件（Azure ポータルで確認してください）" in t for t in brief)
    assert not any(t.startswith("ラベル") for t in brief)


def test_fired_again_after_resolved_says_so():
    n = f.notification(f.alert_event(f.metric_alert()), lookup="none",
                       prior=PriorNotice("Resolved", Window(), f.NOW))
    _, text, _ = email_text(n)
    assert "解決したアラートが再び発生しました。" in text and "This alert has fired again after it resolved." in text


def test_an_alert_with_no_rule_is_named_by_what_it_is_of():
    subject, _, _ = email_text(notification(PAYLOADS / "test-budget.json"))
    assert subject == "【発生】Test_forcasted_budget（サブスクリプション aaaa0a0a…） / [Fired] Test_forcasted_budget on" \
                      " subscription aaaa0a0a…"


def test_a_receiver_in_one_language_gets_one():
    n = notification(EXAMPLES / "08-metric-fired.json")
    ja = slack_texts(slack_payload(rendered(n, "slack", "ja").body))
    en = slack_texts(slack_payload(rendered(n, "slack", "en").body))
    assert any("重大度" in t for t in ja) and not any("Severity" in t for t in ja)
    assert any("Severity" in t for t in en) and not any("重大度" in t for t in en)


def test_every_fact_and_advice_of_every_sample_is_worded_in_both_languages():
    labels, text = macros("text", "common/labels.j2"), macros("text", "common/text.j2")
    for path in SAMPLES:
        view = build_view(notification(path))
        if view.alert is None:
            continue
        for lang in ("ja", "en"):
            for key in view.facts:
                assert plain(labels.title(key, lang)) != key, (path.name, key, lang)
                assert plain(text.fact(key, view, lang)), (path.name, key, lang)
            for key in (*view.advice, "alert_resolved", "alert_essentials_only"):
                assert plain(text.advice(key, view, lang, FMT["text"])), (path.name, key, lang)
            for key, _ in view.links:
                assert plain(labels.title(key, lang)) != key, (path.name, key, lang)


@pytest.mark.parametrize(("written", "shown"), [
    ("1000000", "1,000,000"), ("-123456.78", "-123,456.78"), ("1250.5", "1250.5"), ("12345e3", "12345e3"),
    ("5 GB", "5 GB"), ("", ""),
])
def test_long_figures_are_grouped_in_thousands(written, shown):
    row = CriterionRow.of(Criterion(metric="m", operator="GreaterThan", threshold=written, value=written))
    assert (row.threshold, row.value) == (shown, shown)
