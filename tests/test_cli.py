"""The `relay` command as a user runs it: a real process, real files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOW = "2027-01-12T00:00:00Z"


def relay(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relay", *args], input=stdin, capture_output=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def example(prefix: str) -> str:
    return str(next((EXAMPLES / "alerts").glob(f"{prefix}*.json")))


def test_help_teaches_every_command():
    out = relay("--help").stdout.decode()
    for command in ("validate", "render", "process", "serve", "demo"):
        assert command in out
    assert "exit status" in out
    assert "--channel" in relay("render", "--help").stdout.decode()


def test_validate_prints_one_json_line():
    result = relay("validate", example("01"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["kind"] == "maintenance" and summary["trackingId"] == "XY12-3ZQ"
    assert summary["stage"] == "Planned" and summary["start"] == "2027-01-06T00:00:00Z"
    assert summary["warnings"] == []


@pytest.mark.parametrize("body, expected", [
    (b"not json", "$: "),
    (b"[]", "$: "),
    (b'{"schemaId": "somethingElse", "data": {}}', "$.schemaId"),
    (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {}}', "$.data.essentials"),
])
def test_validate_rejects_with_paths_and_exit_2(body, expected):
    result = relay("validate", "-", stdin=body)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert result.stdout == b""
    assert expected in err and "Traceback" not in err
    assert all(line.startswith("-: ") for line in err.splitlines())


def test_render_each_channel():
    teams = relay("render", example("01"), "--channel", "teams", "--inventory", str(EXAMPLES / "inventory.json"),
                  "--now", NOW)
    assert teams.returncode == 0, teams.stderr
    envelope = json.loads(teams.stdout)
    assert envelope["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    slack = relay("render", example("01"), "--channel", "slack", "--lang", "en", "--now", NOW)
    assert "blocks" in json.loads(slack.stdout)
    mail = relay("render", example("01"), "--channel", "email", "--lang", "ja", "--now", NOW)
    assert b"Content-Type: multipart/" in mail.stdout and b"Subject: =?utf-8?" in mail.stdout


def test_process_then_duplicate(tmp_path):
    args = ["--inventory", str(EXAMPLES / "inventory.json"), "--outbox", str(tmp_path / "out"),
            "--state", str(tmp_path / "ledger.sqlite"), "--now", NOW]
    first = relay("process", example("01"), *args)
    assert first.returncode == 0, first.stderr
    assert "delivered to 3/3 receiver(s)" in first.stdout.decode()
    second = relay("process", example("02"), *args)
    assert "duplicate" in second.stdout.decode() and second.returncode == 0
    assert len(list((tmp_path / "out").glob("*/*"))) == 3
    assert (tmp_path / "out" / "index.html").exists()


def test_process_reports_a_bad_file_and_goes_on(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schemaId": "azureMonitorCommonAlertSchema"}')
    result = relay("process", str(bad), example("06"), "--outbox", str(tmp_path / "out"),
                   "--state", str(tmp_path / "l.sqlite"))
    assert result.returncode == 2
    assert f"{bad}: $.data" in result.stderr.decode()
    assert "incident" in result.stdout.decode()


def test_bad_config_is_named_without_traceback(tmp_path):
    config = tmp_path / "relay.yaml"
    config.write_text("receivers:\n  - {name: x, channel: teams}\n")
    result = relay("process", example("01"), "--config", str(config), "--state", str(tmp_path / "l.sqlite"))
    assert result.returncode == 2
    assert "receivers[0].destination" in result.stderr.decode() and "Traceback" not in result.stderr.decode()
