"""The managers' digest, end to end: a ledger filled by relaying example alerts with an injected clock, then
`relay digest` on chosen mornings, and the emails it writes parsed back."""
import copy
import csv
import email
import io
import json
import re
from datetime import UTC, datetime
from email.policy import default
from pathlib import Path

import pytest

from relay.cli import main
from relay.config import ConfigError, load_config
from relay.config.digest import parse_digest
from relay.hosts.function import FunctionHost
from relay.hosts.wiring import Paths, open_relay
from relay.model import Acknowledgement, Receiver
from relay.pipeline import process
from relay.store.sqlite import SqliteLedger

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLANNED = json.loads((EXAMPLES / "alerts" / "01-planned.json").read_text(encoding="utf-8"))
IMPACTED = {vm_id.rsplit("/", 1)[1] for vm_id in
            json.loads((EXAMPLES / "inventory.json").read_text(encoding="utf-8"))["impacted"]["XY12-3ZQ"]}

CONFIG = """\
receivers:
  - {name: oncall, channel: outbox, format: teams}
  - {name: managers, channel: outbox, format: email, to: [managers@example.com]}
  - {name: leads, channel: outbox, format: email, language: en}
digest:
  receivers: [managers, {name: leads, all_clear: true}]
  team_tag: owner
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def alert(name: str) -> bytes:
    return next((EXAMPLES / "alerts").glob(f"{name}*.json")).read_bytes()


def made_up(tracking_id: str, communication_id: str, stage: str, start: str, end: str) -> bytes:
    """Another maintenance, shaped like the planned example."""
    body = copy.deepcopy(PLANNED)
    props = body["data"]["alertContext"]["properties"]
    props.update(trackingId=tracking_id, communicationId=communication_id, stage=stage, impactStartTime=start,
                 impactMitigationTime=end, title=f"Planned maintenance {tracking_id}")
    body["data"]["alertContext"]["eventTimestamp"] = start.replace("Z", "+00:00")
    return json.dumps(body).encode()


class Estate:
    """A config, an inventory that can change, a ledger and an outbox, in one folder."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "relay.yaml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.inventory = root / "inventory.json"
        self.inventory.write_text((EXAMPLES / "inventory.json").read_text(encoding="utf-8"), encoding="utf-8")
        self.ledger, self.outbox = root / "ledger.sqlite", root / "outbox"

    def relay_alerts(self, when: str, *bodies: bytes) -> None:
        config = load_config(self.config)
        relay = open_relay(config, Paths(self.inventory, self.ledger, self.outbox), now=at(when))
        try:
            for body in bodies:
                assert process(body, relay).ok
        finally:
            relay.ledger.close()

    def set_vm(self, name: str, **redeploy) -> None:
        data = json.loads(self.inventory.read_text(encoding="utf-8"))
        vm = next(v for v in data["vms"] if v["name"] == name)
        vm["maintenanceRedeployStatus"].update(redeploy)
        self.inventory.write_text(json.dumps(data), encoding="utf-8")

    def digest(self, when: str, *options: str) -> int:
        return main(["digest", "--config", str(self.config), "--inventory", str(self.inventory),
                     "--state", str(self.ledger), "--outbox", str(self.outbox), "--now", when, *options])

    def mail(self, receiver: str, day: str):
        path = self.outbox / receiver / f"digest-{day}.eml"
        return email.message_from_bytes(path.read_bytes(), policy=default) if path.exists() else None

    def digests(self) -> list[str]:
        return sorted(str(p.relative_to(self.outbox)) for p in self.outbox.glob("*/digest-*.eml"))


def parts(mail) -> tuple[str, str]:
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


def csv_rows(mail) -> list[dict]:
    (attachment,) = [a for a in mail.iter_attachments() if a.get_content_type() == "text/csv"]
    text = attachment.get_payload(decode=True).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def estate(tmp_path):
    estate = Estate(tmp_path)
    # 10 Jan: the planned maintenance; one that is 20 days off; one planned and canceled the same day
    estate.relay_alerts(
        "2027-01-10T03:00:00", alert("01"),
        made_up("FAR1-XYZ", "800000000000000001", "Planned", "2027-01-31T00:00:00Z", "2027-02-01T00:00:00Z"),
        made_up("CNL1-ABC", "900000000000000001", "Planned", "2027-01-15T00:00:00Z", "2027-01-16T00:00:00Z"),
    )
    estate.relay_alerts(
        "2027-01-10T05:00:00",
        made_up("CNL1-ABC", "900000000000000002", "Canceled", "2027-01-15T00:00:00Z", "2027-01-16T00:00:00Z"))
    return estate


def test_the_first_digest(estate, capsys):
    estate.set_vm("vm-web-02", lastOperationResultCode="MaintenanceCompleted")  # updated since the alert
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    assert "managers: sent" in capsys.readouterr().out
    mail = estate.mail("managers", "20270111")
    assert mail["To"] == "managers@example.com"
    assert mail["Subject"].startswith("Azure メンテナンス日次まとめ 2027年1月11日(月) 9:00 JST: 期限 7 日以内 1 台")
    assert "Azure maintenance daily digest: 1 deadline within 7 days, 1 maintenance, 1 completed/canceled" in mail["Subject"]
    text, html = parts(mail)
    ja, en = text.split("-" * 40)

    # deadlines within 7 days come first, with the time in JST and UTC and the time left
    assert ja.index("セルフサービスの期限が 7 日以内の VM") < ja.index("今後 14 日間のメンテナンス")
    assert en.index("Self-service deadlines within 7 days") < en.index("Maintenance in the next 14 days")
    deadlines = ja.split("!!")[2].split("==")[0]
    assert "vm-web-05 (web-team, XY12-3ZQ): 2027年1月12日(火) 15:00 JST（2027-01-12 06:00 UTC）、あと1日6時間" in deadlines
    assert "vm-web-02" not in deadlines  # its state was read again: already updated
    assert html.index('data-section="deadlines"') < html.index('data-section="upcoming"')
    assert re.search(r'data-section="deadlines" style="[^"]*background:#fff4ce', html)

    # what is in the next 14 days, and what is new; the maintenance 20 days off is not
    assert "【計画メンテナンス】XY12-3ZQ 予定: Planned maintenance: Virtual Machines - Japan East" in ja
    assert "前回からの変更: 新規" in ja and "Since the last digest: New" in en
    assert "初回のため、変更点は過去 24 時間のものです。" in ja
    assert "FAR1-XYZ" not in text + html

    # counts by state per team, refreshed
    assert "- web-team: 今すぐ開始 3・今すぐやり直す（Retry now） 1・更新済み 2（合計 6）" in ja
    assert "- web-team: Start now 3 · Retry now 1 · Already updated 2 (Total 6)" in en
    assert "チーム別の VM の状態（タグ「owner」）" in html

    # canceled since the last digest
    closed = en.split("== Completed or canceled since the last digest ==")[1]
    assert "[Planned maintenance] CNL1-ABC Canceled (Sun 10 Jan 2027 14:00 JST (2027-01-10 05:00 UTC))" in closed
    assert "CNL1-ABC キャンセル" in ja

    # every VM of the maintenance in the CSV, in its current state
    rows = csv_rows(mail)
    assert {row["VM 名 / VM name"] for row in rows} == IMPACTED
    state = {row["VM 名 / VM name"]: row["メンテナンスの状態 / Maintenance status"] for row in rows}
    assert state["vm-web-02"] == "更新済み" and state["vm-web-05"] == "今すぐ開始"
    assert "対象 VM 18 台の一覧（最新の状態）を CSV で添付しています。" in ja

    # an English-only receiver
    lead_text, lead_html = parts(estate.mail("leads", "20270111"))
    assert "Self-service deadlines within 7 days" in lead_text
    assert not re.search("[ぁ-んァ-ン]", lead_text + lead_html + estate.mail("leads", "20270111")["Subject"])


def test_a_second_run_the_same_day_sends_nothing(estate, capsys):
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    sent = {path: path.read_bytes() for path in estate.outbox.glob("*/digest-*.eml")}
    assert estate.digest("2027-01-11T06:30:00Z") == 0  # a retried timer, a second run by hand
    assert capsys.readouterr().out.splitlines()[-2:] == ["managers: sent before", "leads: sent before"]
    assert {path: path.read_bytes() for path in estate.outbox.glob("*/digest-*.eml")} == sent


def test_changes_forced_reboots_and_completion_since_the_last_digest(estate):
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    estate.relay_alerts("2027-01-20T09:00:00", alert("03"))  # rescheduled: the window ends a week later
    assert estate.digest("2027-02-05T00:00:00Z") == 0
    ja, en = parts(estate.mail("managers", "20270205"))[0].split("-" * 40)
    assert ("前回からの変更: 日程変更: 2027年1月6日(水) 9:00〜2月21日(日) 0:00 JST（2027-01-06 00:00–2027-02-20 15:00 UTC）"
            " → 2027年1月6日(水) 9:00〜2月28日(日) 0:00 JST（2027-01-06 00:00–2027-02-27 15:00 UTC）") in ja
    assert "変更点は前回のまとめ（2027年1月11日(月) 9:00 JST）以降のものです。" in ja
    reboots = en.split("== VMs Azure will reboot in the next 14 days ==")[1].split("==")[0]
    assert reboots.index("- vm-web-01 (web-team, Start now): Sat 13 Feb 2027 00:00 – Sun 14 Feb 2027 00:00 JST"
                         " (2027-02-12 15:00–2027-02-13 15:00 UTC)") < reboots.index("- vm-batch-03")
    assert "vm-web-04" not in reboots and "vm-batch-04" not in reboots  # already updated
    assert "CNL1-ABC" not in ja  # canceled before the last digest: told then

    estate.relay_alerts("2027-02-19T16:00:00", alert("04"))
    estate.relay_alerts("2027-02-27T17:00:00", alert("05"))
    assert estate.digest("2027-02-28T00:00:00Z") == 0
    ja, en = parts(estate.mail("managers", "20270228"))[0].split("-" * 40)
    assert "この期間に予定されているメンテナンスはありません。" in ja
    assert "- [Planned maintenance] XY12-3ZQ Complete (Sun 28 Feb 2027 02:00 JST (2027-02-27 17:00 UTC))" in en
    assert not list(estate.mail("managers", "20270228").iter_attachments())  # no VM is due: no CSV


def test_a_day_with_nothing_sends_nothing_unless_all_clear_is_asked_for(estate, capsys):
    assert estate.digest("2027-03-10T00:00:00Z") == 0
    assert "managers: nothing" in capsys.readouterr().out
    assert estate.mail("managers", "20270310") is None
    mail = estate.mail("leads", "20270310")
    assert mail["Subject"] == "Azure maintenance daily digest Wed 10 Mar 2027 09:00 JST: nothing due"
    text, html = parts(mail)
    assert "No maintenance is due in the next 14 days" in text and "Nothing to do." in html
    assert not list(mail.iter_attachments())


def test_a_dry_run_prints_and_writes_nothing(estate, capsys):
    assert estate.digest("2027-01-11T00:00:00Z", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "managers: dry run; maintenance=1 changed=1 closed=1 vms=18 deadlines<=7d=2 reboots=0" in out
    assert estate.digests() == []
    assert estate.digest("2027-01-11T00:00:00Z") == 0  # the dry run recorded nothing
    assert estate.digests() == ["leads/digest-20270111.eml", "managers/digest-20270111.eml"]


def test_the_function_app_timer_sends_the_digest(estate):
    environ = {"RELAY_CONFIG": str(estate.config), "RELAY_INVENTORY": str(estate.inventory),
               "RELAY_LEDGER": str(estate.ledger), "RELAY_OUTBOX": str(estate.outbox)}
    host = FunctionHost(environ)
    try:
        outcomes = host.digest(now=at("2027-01-11T00:00:00"))
        assert [(o.receiver, o.status) for o in outcomes] == [("managers", "sent"), ("leads", "sent")]
        assert [o.status for o in host.digest(now=at("2027-01-11T00:00:05"))] == ["sent before"] * 2
    finally:
        host.relay.ledger.close()


def test_the_digest_says_who_is_on_each_maintenance(estate):
    """Who pressed 対応します / I'm on it on a Teams bot receiver's card, each person once, first first."""
    from relay.alerts import parse_alert
    from relay.digest.send import send_digests

    config = load_config(estate.config)
    relay = open_relay(config, Paths(estate.inventory, estate.ledger, estate.outbox), now=at("2027-01-11T00:00:00"))
    bots = {name: Receiver(name=name, channel="teams", options={"app_id": "5d0c3b7e-8f21-4a6d-9b3e-1c2d3e4f5a6b"})
            for name in ("oncall-bot", "platform-bot")}
    thread = parse_alert(alert("01")).thread_key
    try:
        relay.ledger.acknowledge(thread, "platform-bot", Acknowledgement("u-2", "Ken <Sato>", at("2027-01-10T04:00:00")))
        relay.ledger.acknowledge(thread, "oncall-bot", Acknowledgement("u-1", "田中 愛子", at("2027-01-10T03:30:00")))
        relay.ledger.acknowledge(thread, "platform-bot", Acknowledgement("u-1", "田中 愛子", at("2027-01-10T05:00:00")))
        relay.ledger.acknowledge(thread, "oncall", Acknowledgement("u-3", "Not a bot's", at("2027-01-10T03:00:00")))
        outcomes = send_digests(relay, config.digest, {**config.receivers(), **bots})
    finally:
        relay.ledger.close()
    assert [o.status for o in outcomes] == ["sent", "sent"]
    text, html = parts(estate.mail("managers", "20270111"))
    ja, en = text.split("-" * 40)
    assert "  対応者: 田中 愛子、Ken <Sato>\n" in ja and "  On it: 田中 愛子, Ken <Sato>\n" in en
    assert ja.count("対応者") == 1 and "Not a bot's" not in text  # one maintenance has people on it
    assert ja.index("XY12-3ZQ 予定") < ja.index("対応者") < ja.index("前回からの変更: 新規")
    assert re.search(r'<tr data-row="on-it"><th[^>]*>On it</th><td>田中 愛子, Ken &lt;Sato&gt;</td></tr>', html)
    lead_text = parts(estate.mail("leads", "20270111"))[0]
    assert "On it: 田中 愛子, Ken <Sato>" in lead_text and "対応者" not in lead_text


def test_a_digest_without_a_teams_bot_has_no_one_on_it(estate):
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    text, html = parts(estate.mail("managers", "20270111"))
    assert "対応者" not in text and "On it" not in text and 'data-row="on-it"' not in html


# -- silences


QUIET_NIGHT = ("  - {name: night, channel: outbox, format: slack, language: en, quiet_hours: [{days: [mon]}]}\n"
               "urgent: {reasons: []}\n")  # a deadline within 24 hours would go through


def add_silence(estate: Estate, capsys, when: str, *args: str) -> str:
    """The id of the silence `relay silence add ARGS` set at `when` in the estate's ledger."""
    capsys.readouterr()
    assert main(["silence", "add", *args, "--config", str(estate.config), "--state", str(estate.ledger),
                 "--now", when]) == 0
    return capsys.readouterr().out.split()[0]


def test_the_silences_active_since_the_last_digest_are_listed_with_what_they_hold(estate, capsys):
    ended = add_silence(estate, capsys, "2027-01-10T06:00:00Z", "--match", "stage=Planned", "--for", "2h",
                        "--by", "tanaka", "--comment", "portal check")
    assert estate.digest("2027-01-11T00:00:00Z") == 0
    ja, en = parts(estate.mail("managers", "20270111"))[0].split("-" * 40)
    assert f"- {ended}（終了）" in ja and f"- {ended} (ended)" in en  # it was active in the day before the first

    # a receiver in its quiet hours all Monday (JST): what it holds is not a silence's, and is not listed
    estate.config.write_text(CONFIG.replace("digest:", QUIET_NIGHT + "digest:"), encoding="utf-8")
    active = add_silence(estate, capsys, "2027-01-11T06:00:00Z", "--match", "tracking_id=SIL1-ABC",
                         "--match", "receiver=oncall", "--for", "3d", "--by", "sato", "--comment", "web tier patching")
    estate.relay_alerts(
        "2027-01-11T07:00:00",
        made_up("SIL1-ABC", "700000000000000001", "Planned", "2027-01-13T00:00:00Z", "2027-01-14T00:00:00Z"))
    estate.relay_alerts(
        "2027-01-11T08:00:00",
        made_up("SIL1-ABC", "700000000000000002", "Rescheduled", "2027-01-14T00:00:00Z", "2027-01-15T00:00:00Z"))
    ledger = SqliteLedger(estate.ledger)
    try:
        holds = {(h.receiver, h.reason, h.silence_id, h.held) for h in ledger.holds()}
    finally:
        ledger.close()
    assert holds == {("oncall", "silence", active, 2), ("night", "quiet_hours", None, 2)}

    assert estate.digest("2027-01-12T00:00:00Z") == 0
    mail = estate.mail("managers", "20270112")
    assert "・サイレンス 1 件" in mail["Subject"] and ", 1 silence" in mail["Subject"]
    text, html = parts(mail)
    ja, en = text.split("-" * 40)
    assert ended not in text + html  # it ended before the last digest

    listed = ja.split("== 前回のまとめ以降に有効だったサイレンス（通知の一時停止） ==")[1]
    assert (f"- {active}（有効）\n"
            "  条件: tracking_id=SIL1-ABC, receiver=oncall\n"
            "  期間: 2027年1月11日(月) 15:00〜1月14日(木) 15:00 JST（2027-01-11 06:00–2027-01-14 06:00 UTC）\n"
            "  設定者: sato\n"
            "  理由: web tier patching\n"
            "  保留中のお知らせ 2 件（SIL1-ABC）\n") in listed  # the quiet hours' two are not counted
    assert "サイレンスに一致したお知らせは破棄されず、保留されています。" in listed
    listed = en.split("== Silences in effect since the last digest (notifications held back) ==")[1]
    assert (f"- {active} (active)\n"
            "  Matches: tracking_id=SIL1-ABC, receiver=oncall\n"
            "  Period: Mon 11 Jan 2027 15:00 – Thu 14 Jan 2027 15:00 JST (2027-01-11 06:00–2027-01-14 06:00 UTC)\n"
            "  Set by: sato\n"
            "  Reason: web tier patching\n"
            "  2 messages held (SIL1-ABC)\n") in listed

    ja, en = html.split('data-section="silences"')[1:]
    assert ja.index("サイレンス（通知の一時停止）") < ja.index(f"{active}（有効）") < ja.index("保留中のお知らせ 2 件（SIL1-ABC）")
    assert en.index(f"{active} (active)") < en.index("2 messages held (SIL1-ABC)")
    for section in (ja, en):
        assert "<td>tracking_id=SIL1-ABC, receiver=oncall</td>" in section
        assert "<td>sato</td>" in section and "<td>web tier patching</td>" in section


def test_a_day_with_only_an_active_silence_has_a_digest(estate, capsys):
    active = add_silence(estate, capsys, "2027-03-09T12:00:00Z", "--match-re", "tag:env=dev|test", "--for", "1w",
                         "--by", "sato", "--comment", "dev VMs: no maintenance news this week")
    assert estate.digest("2027-03-10T00:00:00Z") == 0
    assert "managers: sent" in capsys.readouterr().out
    mail = estate.mail("managers", "20270310")
    assert "予定なし" not in mail["Subject"] and "1 silence" in mail["Subject"]
    ja, en = parts(mail)[0].split("-" * 40)
    assert f"- {active}（有効）" in ja and "条件: tag:env=~dev|test" in ja and "保留中のお知らせはありません" in ja
    assert f"- {active} (active)" in en and "Reason: dev VMs: no maintenance news this week" in en
    assert "No message held" in en


# -- the settings


RECEIVERS = {"mail": Receiver("mail", "email", transport="smtp"), "teams": Receiver("teams", "teams")}


def test_settings_defaults_and_per_receiver_all_clear():
    problems = []
    settings = parse_digest({"receivers": ["mail"]}, RECEIVERS, problems)
    assert problems == [] and settings.team_tag is None and (settings.horizon_days, settings.deadline_days) == (14, 7)
    assert not settings.receivers[0].all_clear
    settings = parse_digest({"receivers": [{"name": "mail", "all_clear": False}], "all_clear": True}, RECEIVERS, [])
    assert not settings.receivers[0].all_clear


def test_settings_problems_are_all_named():
    problems = []
    raw = {"receivers": ["teams", "nobody", "mail", "mail"], "team_tag": "", "horizon_days": 0, "colour": "red"}
    assert parse_digest(raw, RECEIVERS, problems) is None
    assert problems == [
        "digest.colour: unknown setting; write one of: alerts, all_clear, deadline_days, horizon_days, receivers,"
        " team_tag",
        "digest.receivers[0]: receiver 'teams' does not send email (channel email, or channel outbox with format email)",
        "digest.receivers[1]: no receiver is named 'nobody'; there are: mail, teams",
        "digest.receivers: 'mail' is named twice",
        "digest.team_tag: the name of a VM tag, like owner",
        "digest.horizon_days: whole days, 1 to 90",
    ]


def test_a_bad_digest_section_names_the_file(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text("receivers:\n  - {name: m, channel: outbox, format: email}\ndigest:\n  receivers: [x]\n")
    with pytest.raises(ConfigError, match=r"relay\.yaml:\n  digest\.receivers\[0\]: no receiver is named 'x'"):
        load_config(path)


# -- the ledger and the Function App


def test_a_ledger_file_from_before_the_digest_gains_the_event_columns(tmp_path):
    import sqlite3

    from relay.alerts import parse_alert
    from relay.store.sqlite import SqliteLedger

    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE communications (dedup_key TEXT PRIMARY KEY, thread_key TEXT NOT NULL, stage TEXT,"
                " window_start TEXT, window_end TEXT, event_time TEXT, admitted_at TEXT NOT NULL, prior_stage TEXT,"
                " prior_start TEXT, prior_end TEXT, prior_sent TEXT)")
    old.execute("INSERT INTO communications (dedup_key, thread_key, stage, window_end, event_time, admitted_at)"
                " VALUES ('xy12-3zq/1', 'XY12-3ZQ', 'Planned', '2027-02-20T15:00:00+00:00',"
                " '2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')")
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    rescheduled = parse_alert(alert("03"))
    assert ledger.admit(rescheduled, ["mail"], at("2027-01-20T09:00:00")).prior.stage == "Planned"
    [thread] = ledger.maintenance_threads(at("2027-01-11T00:00:00"))
    assert [c.event.stage for c in thread] == ["Rescheduled"]  # what was admitted before cannot be rebuilt
    ledger.close()


def test_the_timer_is_registered_only_when_the_config_has_a_digest(tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import function_app, json, sys; functions = function_app.app.get_functions();"
            " print(json.dumps({f.get_function_name(): f.get_function_json() for f in functions}));"
            " print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity', 'relay.digest.'))))")

    def functions(config: str) -> tuple[dict, str]:
        path = tmp_path / "relay.yaml"
        path.write_text(config, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_", "AZURE_"))}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60,
                             env=env | {"RELAY_CONFIG": str(path)})
        assert out.returncode == 0, out.stderr
        names, modules = out.stdout.strip().splitlines()
        return json.loads(names), modules

    with_digest, modules = functions(CONFIG)
    assert sorted(with_digest) == ["calendar", "digest", "ingest", "remind", "scheduled_events"]
    (binding,) = json.loads(with_digest["digest"])["bindings"]
    assert binding == {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 0 0 * * *",
                       "runOnStartup": False}
    assert modules == "[]"  # a cold start builds no digest
    assert sorted(functions(CONFIG.split("digest:")[0])[0]) == ["calendar", "ingest", "remind", "scheduled_events"]
    assert sorted(functions(CONFIG.replace("[managers,", "[nobody,"))[0]) == ["calendar", "ingest", "remind", "scheduled_events"]  # logged, not fatal


def test_a_large_vm_list_is_said_to_be_in_a_zip():
    from types import SimpleNamespace

    from relay.render.markup import macros

    wording = macros("text", "digest/text.j2")
    d = SimpleNamespace(total=12_000)
    assert str(wording.csv_note(d, "ja", "zip")) == "対象 VM 12,000 台の一覧（最新の状態）を CSV にして ZIP ファイルで添付しています。"
    assert str(wording.csv_note(d, "en", "zip")) == "All 12,000 VMs and their current state are in the attached ZIP file, as a CSV."
    assert str(wording.csv_note(d, "en", "csv")) == "All 12,000 VMs and their current state are in the attached CSV."


def test_what_a_silence_holds_of_several_maintenance_is_counted_for_each():
    from types import SimpleNamespace

    from relay.render.markup import macros

    wording = macros("text", "digest/text.j2")
    s = SimpleNamespace(held=(("AB34-5CD", 1), ("XY12-3ZQ", 2)), total=3)
    assert str(wording.silence_held(s, "ja")) == "保留中のお知らせ 3 件（AB34-5CD 1 件、XY12-3ZQ 2 件）"
    assert str(wording.silence_held(s, "en")) == "3 messages held (AB34-5CD 1, XY12-3ZQ 2)"
    one = SimpleNamespace(held=(("XY12-3ZQ", 1),), total=1)
    assert str(wording.silence_held(one, "en")) == "1 message held (XY12-3ZQ)"
