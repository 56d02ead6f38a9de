"""`relay backfill` end to end: the command in a process of its own against the ARM emulator (signed in with
DefaultAzureCredential from the environment, trusting the test CA), the SQLite inbox it fills, and a worker
relaying that inbox to the outbox."""
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.backfill import watermark_name
from relay.cli import main
from relay.config import load_config
from relay.hosts.wiring import Paths, open_relay
from relay.hosts.worker import handle_next
from relay.inbox.sqlite import SqliteInbox
from relay.store.sqlite import SqliteLedger
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator
from tests.test_backfill import news

ROOT = Path(__file__).resolve().parent.parent
NOW = "2027-01-21T00:00:00Z"


def write_config(emu: ArmEmulator, tmp_path: Path, subscriptions: list[str]) -> Path:
    path = tmp_path / "relay.yaml"
    path.write_text(json.dumps({
        "azure": {"arm_url": emu.url, "authority": emu.url, "subscriptions": subscriptions},
        "ledger": "ledger.sqlite", "outbox": "outbox",
        "receivers": [{"name": "mail", "channel": "outbox", "format": "email"}],
    }))
    return path


def relay_backfill(emu: ArmEmulator, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_"))}
    env |= {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "SSL_CERT_FILE": str(emu.tls.bundle)}
    done = subprocess.run([sys.executable, "-m", "relay", "backfill", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert CLIENT_SECRET not in done.stdout + done.stderr
    return done


def test_backfill_then_a_worker_relays_and_the_next_runs_queue_nothing(ca, tmp_path):
    estate = news(subscriptions=3)
    a, b, denied = estate.subscriptions
    inbox = tmp_path / "inbox.sqlite"
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        config = write_config(emu, tmp_path, [a, b])
        first = relay_backfill(emu, "--config", str(config), "--inbox", str(inbox), "--since", "7d", "--now", NOW,
                               "--subscription", denied)
        assert first.returncode == 1, first.stderr  # one subscription could not be read
        assert first.stdout.splitlines() == [
            f"queued: {a} incident 7LMN-0PQ Active: Virtual Machines - Japan West - Connectivity and start failures",
            f"queued: {a} maintenance XY12-3ZQ Rescheduled: Planned maintenance: Virtual Machines - Japan East"
            " (reboot required)",
            f"queued: {a} maintenance AB12-3CD Active: Planned maintenance: Virtual Machines - Japan East",
        ]
        assert f"{denied}: not read: denied (403): the identity needs Reader on the subscription" in first.stderr
        assert f"{b}: 2 Service Health event(s) since 2027-01-14 00:00 UTC, 2 already known, 0 queued" in first.stderr
        assert "backfill: 6 seen, 3 already known, 3 queued, 1 of 3 subscription(s) failed" in first.stderr

        worker_inbox = SqliteInbox(inbox)
        relay = open_relay(load_config(config), Paths(inventory=ROOT / "examples" / "inventory.json"),
                           now=datetime(2027, 1, 21, tzinfo=UTC))
        outcomes = []
        while (outcome := handle_next(worker_inbox, relay)) is not None:
            outcomes.append(outcome)
        relay.ledger.close()
        assert [o.status for o in outcomes] == ["delivered"] * 3
        assert len(list((tmp_path / "outbox" / "mail").glob("*.eml"))) == 3

        later = relay_backfill(emu, "--config", str(config), "--inbox", str(inbox), "--now", "2027-01-21T00:15:00Z")
        week = relay_backfill(emu, "--config", str(config), "--inbox", str(inbox), "--since", "7d", "--now", NOW)
    assert later.returncode == 0 and later.stdout == ""
    assert f"{a}: 0 Service Health event(s) since 2027-01-20 23:30 UTC" in later.stderr  # the watermark, less 30 min
    assert week.returncode == 0 and week.stdout == ""
    assert "backfill: 6 seen, 6 already known, 0 queued, 0 of 2 subscription(s) failed" in week.stderr
    assert worker_inbox.take() is None


def test_a_dry_run_lists_and_queues_nothing_then_a_run_fills_the_inbox_relay_serve_reads(ca, tmp_path):
    estate = news(subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        config = write_config(emu, tmp_path, estate.subscriptions)
        dry = relay_backfill(emu, "--config", str(config), "--dry-run", "--now", NOW, cwd=tmp_path)
        real = relay_backfill(emu, "--config", str(config), "--now", NOW, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert [line.split(":")[0] for line in dry.stdout.splitlines()] == ["would queue"] * 2  # the last day's news
    assert real.returncode == 0 and real.stdout == dry.stdout.replace("would queue:", "queued:")
    default = tmp_path / ".relay" / "inbox.sqlite"
    assert SqliteInbox(default).counts() == {"waiting": 2}
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    assert ledger.watermark(watermark_name(estate.subscriptions[0])) == datetime(2027, 1, 21, tzinfo=UTC)


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["backfill", "--help"])
    text = capsys.readouterr().out
    for needed in ("Activity Log", "Resource Health", "watermark", "Reader", "--since", "30m, 24h, 7d",
                   "--dry-run", ".relay/inbox.sqlite", "Exit 0", "examples:"):
        assert needed in text, needed


def test_bad_input_is_exit_2(capsys, tmp_path):
    assert main(["backfill", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["backfill"]) == 2
    assert "no subscription to read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["backfill", "--since", "soon", "--subscription", "0a1b2c3d-1111-2222-3333-444455556666"])
    assert exit.value.code == 2
    assert "not a duration or time: 'soon'" in capsys.readouterr().err
