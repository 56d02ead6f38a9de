"""`relay process` as Azure's Planned and then Rescheduled communications arrive, each with the VMs as Azure
had them then (tests/inventories/rescheduled-before.json, rescheduled-after.json): every channel's Rescheduled
message says, per VM and in JST, the self-service deadline and Azure's scheduled window old → new, the state
old → new, which VMs joined and left, and where Azure contradicts itself; on the SQLite ledger and on Table
Storage (Azurite).

Between the two inventories: vm-db-04's deadline and scheduled window move a week; vm-web-01 can no longer be
started by self-service (Start now → Scheduled) and its window moves; vm-db-02's deadline moves past the start
of its own scheduled window (a contradiction); vm-web-02 does not change; vm-ops-01 joins; vm-batch-01 leaves.
"""
import html
import re
import uuid
from pathlib import Path

from relay.cli import main
from tests.render_fixtures import assert_cards_valid, card_of, email_parts, parse_email, slack_payload

pytest_plugins = ["tests.azurite"]

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "examples" / "alerts"
INVENTORIES = ROOT / "tests" / "inventories"

JA = [
    "前回の通知からの VM ごとの変更（VM の状態: 1/20(水) 17:45 JST 時点）:",
    "vm-db-04: セルフサービス期限 2/10(水) 9:00 → 2/17(水) 9:00 JST、"
    "予定メンテナンス期間 2/16(火) 0:00〜2/17(水) 0:00 → 2/24(水) 0:00〜2/25(木) 0:00 JST",
    "追加: vm-ops-01（今すぐ開始）",
    "vm-db-02: セルフサービス期限 2/10(水) 9:00 → 2/20(土) 9:00 JST、"
    "予定メンテナンス期間 2/17(水) 0:00〜2/18(木) 0:00 → 2/20(土) 0:00〜2/21(日) 0:00 JST",
    "vm-web-01: 予定メンテナンス期間 2/13(土) 0:00〜2/14(日) 0:00 → 2/20(土) 0:00〜2/21(日) 0:00 JST、"
    "状態 今すぐ開始 → スケジュール済み",
    "対象外になった VM: vm-batch-01",
]
EN = [
    "Changes per VM since the last notice (VM status as of Wed 20 Jan 17:45 JST):",
    "vm-db-04: self-service deadline Wed 10 Feb 09:00 → Wed 17 Feb 09:00 JST; "
    "Azure's scheduled window Tue 16 Feb 00:00 – Wed 17 Feb 00:00 → Wed 24 Feb 00:00 – Thu 25 Feb 00:00 JST",
    "Added: vm-ops-01 (Start now)",
    "vm-db-02: self-service deadline Wed 10 Feb 09:00 → Sat 20 Feb 09:00 JST; "
    "Azure's scheduled window Wed 17 Feb 00:00 – Thu 18 Feb 00:00 → Sat 20 Feb 00:00 – Sun 21 Feb 00:00 JST",
    "vm-web-01: Azure's scheduled window Sat 13 Feb 00:00 – Sun 14 Feb 00:00 → Sat 20 Feb 00:00 – Sun 21 Feb 00:00 JST; "
    "state Start now → Scheduled",
    "No longer in this maintenance: vm-batch-01",
]
DISAGREE = {
    "ja": "Azure の情報が食い違っています: vm-db-02 のセルフサービス期限（2/20(土) 9:00 JST）が、"
          "予定メンテナンス期間の開始（2/20(土) 0:00 JST）より後になっています。",
    "en": "Azure's information disagrees: the self-service deadline of vm-db-02 (Sat 20 Feb 09:00 JST) is after "
          "Azure's scheduled window for it starts (Sat 20 Feb 00:00 JST).",
}
WINDOW_MOVED = {"ja": "日程が変更されました: ", "en": "The window has moved: "}


def relay_both(tmp_path, capsys) -> Path:
    """Planned with the VMs before, Rescheduled with the VMs after, as two runs of `relay process`."""
    outbox, state = tmp_path / "outbox", tmp_path / "ledger.sqlite"
    runs = [("01-planned.json", "rescheduled-before.json", "2027-01-12T00:00:00Z"),
            ("03-rescheduled.json", "rescheduled-after.json", "2027-01-20T08:45:00Z")]
    for alert, inventory, now in runs:
        status = main(["process", str(ALERTS / alert), "--inventory", str(INVENTORIES / inventory),
                       "--outbox", str(outbox), "--state", str(state), "--now", now])
        assert status == 0, capsys.readouterr()
    return outbox


def lines_read(path: Path) -> list[list[str]]:
    """The lines a reader sees, whichever the channel: Teams text blocks and runs, Slack sections without their
    bold and warning marks; the email's text part and, apart, the lines of its HTML part."""
    body = path.read_bytes()
    if path.parent.name == "teams":
        return [_card_lines(card_of(body))]
    if path.parent.name == "slack":
        sections = [b["text"]["text"] for b in slack_payload(body)["blocks"] if b["type"] == "section"]
        return [[html.unescape(line.removeprefix(":warning: ").strip("*")) for s in sections for line in s.split("\n")]]
    text, markup = email_parts(parse_email(body))
    return [text.splitlines(), [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in re.split(r"<br>|\n", markup)]]


def _card_lines(node) -> list[str]:
    if isinstance(node, list):
        return [line for item in node for line in _card_lines(item)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "TextBlock":
        return [node["text"]]
    if node.get("type") == "RichTextBlock":
        return ["".join(run["text"] for run in node["inlines"])]
    return [line for value in node.values() for line in _card_lines(value)]


def assert_every_channel_says_what_moved_per_vm(outbox: Path, tmp_path: Path) -> None:
    rescheduled = sorted(outbox.glob("*/*-XY12-3ZQ-*-Rescheduled.*"))
    assert [p.parent.name for p in rescheduled] == ["email", "slack", "teams"]
    for path, lines in ((p, lines) for p in rescheduled for lines in lines_read(p)):
        for lang, expected in (("ja", JA), ("en", EN)):
            where = [lines.index(line) if line in lines else -1 for line in expected]
            assert -1 not in where, (path.parent.name, [line for line in expected if line not in lines])
            assert where == sorted(where), path.parent.name  # one after the other, as listed
            window = next(i for i, line in enumerate(lines) if line.startswith(WINDOW_MOVED[lang]))
            assert where[-1] < window, path.parent.name  # per VM first, then the event's window
            assert DISAGREE[lang] in lines, path.parent.name
        assert not any(line.startswith("vm-web-02:") for line in lines), path.parent.name  # nothing moved
    (teams,) = (p for p in rescheduled if p.parent.name == "teams")
    assert_cards_valid({"rescheduled": teams.read_bytes()}, tmp_path)


def test_relay_process_tells_per_vm_what_moved_on_the_sqlite_ledger(tmp_path, capsys):
    outbox = relay_both(tmp_path, capsys)
    assert (tmp_path / "ledger.sqlite").is_file()
    assert_every_channel_says_what_moved_per_vm(outbox, tmp_path)


def test_relay_process_tells_per_vm_what_moved_on_table_storage(tmp_path, capsys, azurite, monkeypatch):
    monkeypatch.setenv("RELAY_TABLES_CONNECTION", azurite)
    monkeypatch.setenv("RELAY_TABLE", f"ledger{uuid.uuid4().hex[:16]}")
    outbox = relay_both(tmp_path, capsys)
    assert not (tmp_path / "ledger.sqlite").exists()  # the Table ledger kept everything
    assert_every_channel_says_what_moved_per_vm(outbox, tmp_path)


def test_the_first_notice_of_the_thread_says_nothing_per_vm(tmp_path, capsys):
    outbox = relay_both(tmp_path, capsys)
    planned = sorted(outbox.glob("*/*-XY12-3ZQ-*-Planned.*"))
    assert [p.parent.name for p in planned] == ["email", "slack", "teams"]
    for path in planned:
        said = "\n".join(line for lines in lines_read(path) for line in lines)
        assert "前回の通知から" not in said and "since the last notice" not in said, path.parent.name
