"""Managers: the `audience` and tag settings, the polite maintenance email with the week's decisions and no
commands, the same decisions in the digest, and JST beside UTC in the CSV."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import timedelta

import pytest

from relay.cli import main
from relay.config import ConfigError, parse_config
from relay.enrich.state import by_urgency
from relay.model import MaintenanceState, ManagerTags, Receiver, Window
from relay.render import render
from relay.render.decisions import decisions
from relay.render.view import VmRow
from tests import factories as f
from tests.render_fixtures import JAPANESE, email_parts, parse_email
from tests.test_digest import Estate, alert, parts

S = MaintenanceState
COMMANDS = ("az vm", "perform-maintenance", "Restart-AzVM", "PerformMaintenance")
ON_CALL_WORDS = ("済ませてください", "実行してください", "依頼してください", "見込んでください", "変更してください")


# -- the settings


def receiver_of(**item) -> Receiver:
    config = parse_config({"receivers": [{"name": "m", **item}]})
    (route,) = config.routes
    return route.receiver


def problems_of(**item) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{"name": "m", **item}]})
    return info.value.problems


def test_audience_is_oncall_unless_an_email_receiver_says_managers():
    assert receiver_of(channel="outbox", format="email").audience == "oncall"
    assert receiver_of(channel="outbox", format="teams").audience == "oncall"
    assert receiver_of(channel="outbox", format="email", audience="managers").audience == "managers"
    mail = receiver_of(channel="email", destination="RELAY_SMTP_URL", to=["m@example.com"], audience="managers")
    assert mail.audience == "managers" and "audience" not in mail.options


def test_the_tags_have_defaults_and_can_be_set():
    assert receiver_of(channel="outbox", format="email").tags == ManagerTags("env", ("prod", "production"), "owner")
    tags = receiver_of(channel="outbox", format="email", audience="managers", environment_tag="Environment",
                       production_values="prd", owner_tag="team").tags
    assert tags == ManagerTags("Environment", ("prd",), "team")


def test_a_teams_receiver_keeps_audience_for_its_entra_token():
    teams = receiver_of(channel="teams", destination="TEAMS_URL", auth="entra",
                        audience="https://gov.service.flow.microsoft.us")
    assert teams.options["audience"] == "https://gov.service.flow.microsoft.us" and teams.audience == "oncall"


@pytest.mark.parametrize("item, expected", [
    ({"channel": "outbox", "format": "email", "audience": "manager"},
     "m.audience: oncall (the default: terse, with a command per VM) or managers (polite, with the week's"
     " decisions and no commands) (got 'manager')"),
    ({"channel": "slack", "destination": "SLACK_URL", "audience": "managers"},
     "m.audience: for email receivers only (channel email, or channel outbox with format email): the managers'"
     " wording is an email"),
    ({"channel": "outbox", "format": "teams", "owner_tag": "team"}, "m.owner_tag: for email receivers only"),
    ({"channel": "teams", "destination": "TEAMS_URL", "audience": "managers"},
     "m.audience: for email receivers only (channel email, or channel outbox with format email): the managers'"
     " wording is an email; a teams receiver's audience is the Entra token's, for auth: entra (a URL)"),
    ({"channel": "outbox", "format": "email", "environment_tag": ""}, "m.environment_tag: the name of a VM tag, like env"),
    ({"channel": "outbox", "format": "email", "owner_tag": 3}, "m.owner_tag: the name of a VM tag, like owner"),
    ({"channel": "outbox", "format": "email", "production_values": []},
     "m.production_values: the values of the environment tag that mean production, like [prod, production]"),
])
def test_bad_settings_are_named(item, expected):
    (problem,) = problems_of(**item)
    assert problem.startswith("receivers[0]." + expected.removeprefix("m."))


def test_config_check_gives_the_line(tmp_path, capsys):
    path = tmp_path / "relay.yaml"
    path.write_text("receivers:\n  - name: oncall\n    channel: outbox\n    format: slack\n    audience: managers\n"
                    "  - name: managers\n    channel: outbox\n    format: email\n    audience: boss\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}:5: receivers[0].audience: for email receivers only")
    assert lines[1].startswith(f"{path}:9: receivers[1].audience: oncall (the default")
    assert lines[2] == f"{path}: 2 problem(s)"


# -- the week's decisions, as facts


def week_vms():
    """A production single instance in each way it can go down, a retry of each kind, a dynamic IP, an untagged
    single instance, and one whose windows are weeks away."""
    far = f.NOW + timedelta(days=30)
    return by_urgency([
        f.make_vm("vm-web-01", S.START_NOW, zones=(), public_ip_allocation="Dynamic",
                  tags={"env": "prod", "owner": "web-team"}),
        f.make_vm("vm-web-02", S.RETRY_NOW, tags={"Env": "Production", "Owner": "web-team"}),
        f.make_vm("vm-db-01", S.SCHEDULED, zones=(), resource_group="rg-db", tags={"env": "prod", "owner": "db-team"}),
        f.make_vm("vm-batch-01", S.RETRY_LATER, availability_set="as-batch", zones=(),
                  tags={"env": "dev", "owner": "batch-team"}),
        f.make_vm("vm-old-01", S.ALREADY_UPDATED, zones=(), tags={"env": "prod"}),
        f.make_vm("vm-tmp-01", S.START_NOW, zones=()),
        later(f.make_vm("vm-far-01", S.SCHEDULED, zones=(), tags={"env": "prod"}), far),
    ])


def later(affected, start):
    """The VM with Azure's scheduled window moved to `start`."""
    redeploy = replace(affected.vm.redeploy, scheduled=Window(start, start + timedelta(hours=12)))
    return replace(affected, vm=replace(affected.vm, redeploy=redeploy))


def test_decisions_are_plain_facts_within_the_week():
    vms = week_vms()
    d = decisions([VmRow.of(a) for a in vms], f.NOW, ManagerTags())
    assert d.until == f.NOW + timedelta(days=7)
    assert [(v.row.name, v.owner, v.environment) for v in d.production] == [
        ("vm-web-01", "web-team", "prod"),  # its deadline, 23 Jan, comes first
        ("vm-db-01", "db-team", "prod"),  # Azure's window, 25 Jan
    ]  # vm-old-01 is updated, vm-far-01's window is weeks away, vm-web-02 is in a zone
    # Retry later may be retried until its self-service window closes: the same time as vm-web-02's deadline
    assert [v.row.name for v in d.retries] == ["vm-batch-01", "vm-web-02"]
    assert d.retries[0].row.last_attempt == f.RETRY_LATER_MESSAGE
    assert [v.row.name for v in d.dynamic_ips] == ["vm-web-01"]
    (day,) = d.busy_days
    assert [v.row.name for v in day.vms] == ["vm-tmp-01", "vm-web-01", "vm-web-02"]  # 23 Jan 16:30 JST, all three
    assert d.untagged_single == 1  # vm-tmp-01: production or not, its tags do not say
    assert d.count == 2 + 2 + 1 + 1 and not d.empty
    assert decisions([], f.NOW, ManagerTags()).empty


def test_other_tags_and_production_values():
    vms = week_vms()
    d = decisions([VmRow.of(a) for a in vms], f.NOW, ManagerTags("owner", ("DB-team",), "env"))
    assert [(v.row.name, v.owner) for v in d.production] == [("vm-db-01", "prod")]


# -- the managers' email


def managers(language="both", **fields) -> Receiver:
    return Receiver(name=f"managers-{language}", channel="email", language=language, audience="managers", **fields)


def oncall(language="both") -> Receiver:
    return Receiver(name=f"managers-{language}", channel="email", language=language)


def week():
    return f.notification(vms=week_vms())


def mail(notification, receiver):
    parsed = parse_email(render(notification, receiver).body)
    text, html = email_parts(parsed)
    return str(parsed["Subject"]), text, html


def test_the_opening_says_what_by_when_and_what_is_asked():
    subject, text, _ = mail(week(), managers())
    assert subject.startswith("【今週のご判断 6 件】東日本")
    assert "[6 decisions this week] Japan East VM reboot XY12-3ZQ · deadline Fri 23 Jan 16:30 JST (3d 4h left)" in subject
    ja, en = text.split("-" * 40)
    opening = ja.split("\n\n")[2].splitlines()
    assert opening == [
        "Azure の計画メンテナンスにより、東日本リージョンにある当社の VM 7 台が対象となっています（うち再起動を控えているもの 6 台）。",
        "セルフサービス期限は最も早いもので 1/23(金) 16:30 JST（あと3日4時間）です。"
        "Azure の予定メンテナンス期間は 2026年1月25日(日) 0:00〜12:00 JST（あと4日12時間）です。",
        "下の「今週決めること」について、どの VM をいつ停止するかのご判断をお願いいたします。",
    ]
    assert en.split("\n\n")[2].splitlines() == [
        "Azure's planned maintenance in Japan East affects 7 of our VMs (6 still to be rebooted).",
        "The earliest self-service deadline is Fri 23 Jan 16:30 JST (3d 4h left);"
        " Azure's scheduled window is Sun 25 Jan 2026 00:00–12:00 JST (4d 12h left).",
        "Please decide which VMs are taken down when: see “Decisions this week” below.",
    ]


def test_the_decisions_name_the_production_single_instance_and_its_reboot():
    _, text, html = mail(week(), managers())
    ja, en = text.split("-" * 40)
    block = ja.split("== 今週決めること ==")[1]
    assert "停止する本番環境の単一構成 VM（タグ env = prod / production）" in block
    assert ("- vm-db-01（担当: db-team）: 予定メンテナンス期間（2026年1月25日(日) 0:00〜12:00 JST、あと4日12時間）に"
            " Azure が再起動します。正確な時刻は事前には分かりません。") in block
    assert ("- vm-web-01（担当: web-team）: セルフサービス期限 1/23(金) 16:30 JST（あと3日4時間）。それまでにセルフサービスで"
            "実施しない場合は、予定メンテナンス期間（2026年1月25日(日) 0:00〜12:00 JST、あと4日12時間）に Azure が再起動します。"
            ) in block
    assert f"Azure の原文: “{f.RETRY_LATER_MESSAGE}”" in block
    assert "- 2026年1月23日(金) 16:30 JST に 3 台: vm-tmp-01、vm-web-01、vm-web-02" in block
    assert "vm-far-01" not in block
    assert ("- vm-db-01 (owner: db-team): Azure reboots it in its scheduled window (Sun 25 Jan 2026 00:00–12:00 JST,"
            " 4d 12h left); the exact time is not known in advance.") in en
    assert html.count('data-section="decisions"') == 2  # one per language
    assert "vm-db-01（担当: db-team）: 予定メンテナンス期間" in html


def test_no_command_anywhere():
    for language in ("ja", "en", "both"):
        subject, text, html = mail(week(), managers(language))
        for command in COMMANDS:
            assert command not in subject + text + html


def test_polite_japanese():
    _, text, _ = mail(week(), managers("ja"))
    for word in ON_CALL_WORDS:
        assert word not in text
    body = text.split("=" * 40)[0]
    sentences = [s for line in body.splitlines() if line and not line.startswith(("-", " ", "=", "【"))
                 for s in re.findall(r"[^。]+。", line) if JAPANESE.search(s)]
    assert len(sentences) > 10
    for sentence in (re.sub(r"（[^（）]*）。$", "。", s) for s in sentences):  # a closing aside: the verb before it
        assert sentence.endswith(("です。", "ます。", "ません。", "でした。", "ました。", "ください。")), sentence
        if sentence.endswith("ください。"):
            assert "ご" in sentence, sentence  # ご検討ください, never a bare imperative


def test_the_table_has_owner_and_environment_columns_when_tagged():
    _, text, html = mail(week(), managers())
    assert "<th" in html and "担当 / Owner</th>" in html and "環境 / Environment</th>" in html
    assert "   担当 / Owner: web-team\n   環境 / Environment: prod" in text
    _, _, untagged = mail(f.planned(), managers())
    assert "担当 / Owner</th>" not in untagged and "環境 / Environment</th>" not in untagged


def test_tag_values_are_text_in_html():
    vms = (f.make_vm("vm-web-01", S.START_NOW, zones=(), tags={"env": "prod", "owner": "<b>web</b>"}),)
    _, _, html = mail(f.notification(vms=vms), managers())
    assert "<b>web</b>" not in html and "&lt;b&gt;web&lt;/b&gt;" in html


def test_a_canceled_maintenance_asks_nothing():
    subject, text, _ = mail(f.canceled(), managers("ja"))
    assert subject.startswith("【キャンセル】東日本 VM")
    assert "このメンテナンスに向けた調整（停止の連絡や作業の予定）は取りやめていただいて構いません。" in text
    assert "今週決めること" not in text


@pytest.mark.parametrize("name", list(f.SCENARIOS))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_every_scenario_renders_for_managers(name, language):
    n = f.SCENARIOS[name]()
    message = render(n, managers(language))
    assert message.body.isascii()
    subject, text, html = mail(n, managers(language))
    assert html.lstrip().startswith("<!DOCTYPE html>") and "<style" not in html
    if language == "en":
        assert not JAPANESE.search(subject + text + html)
    if n.event.kind.value != "maintenance":  # other news reads the same for everyone
        assert render(n, managers(language)).body == render(n, oncall(language)).body


def test_the_oncall_email_is_unchanged():
    tagged = replace(oncall(), tags=ManagerTags("owner", ("x",), "env"))
    default = render(week(), oncall()).body
    assert render(week(), tagged).body == default
    _, text, html = mail(week(), oncall())
    for body in (text, html):
        assert "az vm perform-maintenance -g rg-web -n vm-web-01" in body
        assert "必要な対応" in body and "今週決めること" not in body and "Decisions this week" not in body


# -- the digest


DIGEST_CONFIG = """\
receivers:
  - {name: managers, channel: outbox, format: email, audience: managers, production_values: [prod, stg]}
  - {name: leads, channel: outbox, format: email, language: en}
digest:
  receivers: [managers, leads]
  team_tag: owner
"""


@pytest.fixture
def estate(tmp_path):
    estate = Estate(tmp_path)
    estate.config.write_text(DIGEST_CONFIG, encoding="utf-8")
    estate.relay_alerts("2027-01-10T03:00:00", alert("01"))
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    return estate


def test_the_digest_has_the_decisions_with_the_receivers_tags(estate):
    mail_ = estate.mail("managers", "20270111")
    text, html = parts(mail_)
    ja, en = text.split("-" * 40)
    assert ja.index("== 今週決めること ==") < ja.index("!! セルフサービスの期限が 7 日以内の VM !!")
    block = ja.split("== 今週決めること ==")[1].split("!!")[0]
    assert "停止する本番環境の単一構成 VM（タグ env = prod / stg）" in block  # vm-web-05 is env=stg here
    assert "- vm-web-05（担当: web-team）: セルフサービス期限 1/12(火) 15:00 JST（あと1日6時間）。" in block
    assert "セルフサービスで IP アドレスが変わりうる VM" in block
    assert "== Decisions this week ==" in en
    assert html.count('data-section="decisions"') == 2
    assert html.index('data-section="decisions"') < html.index('data-section="deadlines"')
    lead = parts(estate.mail("leads", "20270111"))[0]
    assert "Production single instances going down" not in lead  # env=stg is not production by default
    for command in COMMANDS:
        assert command not in text + html + lead


def test_the_csv_gives_jst_beside_utc(estate):
    (attachment,) = [a for a in estate.mail("managers", "20270111").iter_attachments()
                     if a.get_content_type() == "text/csv"]
    table = list(csv.reader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8-sig"))))
    header = [name.split(" / ")[1] for name in table[0]]
    assert header[5:13] == [
        "Self-service start (UTC)", "Self-service start (JST)", "Self-service end (UTC)", "Self-service end (JST)",
        "Scheduled start (UTC)", "Scheduled start (JST)", "Scheduled end (UTC)", "Scheduled end (JST)",
    ]
    assert table[0][8] == "セルフサービス終了 (JST) / Self-service end (JST)"
    web05 = next(row for row in table if row[0] == "vm-web-05")
    assert web05[7:9] == ["2027-01-12T06:00:00Z", "2027-01-12 15:00"]
