"""`relay send-test`: through a real Teams-style endpoint on 127.0.0.1, and what it prints."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.sinks.server import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def run(config: Path, receiver: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relay", "send-test", receiver, "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def config_for(tmp_path: Path) -> Path:
    config = tmp_path / "relay.yaml"
    config.write_text("receivers:\n  - {name: oncall, channel: teams, destination: TEST_TEAMS_URL, language: both}\n")
    return config


def test_send_test_delivers_a_bilingual_card(tmp_path):
    with LoopbackServer(lambda request: Reply(202)) as sink:
        url = f"{sink.url}/workflows/abc/triggers/manual/paths/invoke?sig=SECRET123"
        result = run(config_for(tmp_path), "oncall", {"TEST_TEAMS_URL": url})
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("oncall (teams via teams): delivered")
        (request,) = sink.requests
        card = json.dumps(request.json(), ensure_ascii=False)
        assert "接続テスト" in card and "connection test" in card
        assert "SECRET123" not in result.stdout + result.stderr


def test_send_test_prints_what_came_back(tmp_path):
    with LoopbackServer(lambda request: Reply(404, "Not Found")) as sink:
        result = run(config_for(tmp_path), "oncall", {"TEST_TEAMS_URL": f"{sink.url}/x?sig=SECRET123"})
    assert result.returncode == 1
    assert "NOT delivered" in result.stdout and "404" in result.stdout and "worth retrying: no" in result.stdout
    assert "SECRET123" not in result.stdout + result.stderr


def test_send_test_names_a_missing_variable(tmp_path):
    result = run(config_for(tmp_path), "oncall", {"TEST_TEAMS_URL": ""})
    assert result.returncode == 2 and "TEST_TEAMS_URL is not set" in result.stderr
