"""VM-level routing through the real pipeline: one maintenance, one message per team with only its VMs."""
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from relay.config import load_config
from relay.hosts.wiring import Paths, open_relay
from relay.pipeline import process

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
NOW = datetime(2027, 1, 12, tzinfo=UTC)
WEB = ["vm-web-01", "vm-web-02", "vm-web-03", "vm-web-04", "vm-web-05", "vm-web-11"]
DB = ["vm-db-01", "vm-db-02", "vm-db-03", "vm-db-04", "vm-db-05", "vm-db-11"]
OTHERS = ["vm-batch-01", "vm-ops-01"]


def alert(name: str) -> bytes:
    return next((EXAMPLES / "alerts").glob(f"{name}*.json")).read_bytes()


@pytest.fixture
def relay(tmp_path):
    relay = open_relay(load_config(HERE / "routing" / "teams.yaml"),
                       Paths(ledger=tmp_path / "ledger.sqlite", outbox=tmp_path / "outbox"), now=NOW)
    yield relay
    relay.ledger.close()


def written(tmp_path, receiver: str, stage: str) -> str:
    """The one message a receiver got for this stage, as text."""
    files = list((tmp_path / "outbox" / receiver).glob(f"*-{stage}.*"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    if files[0].suffix == ".eml":
        mail = message_from_bytes(data, policy=policy.default)
        return "\n".join(part.get_content() for part in mail.walk() if part.get_content_type() == "text/plain")
    return data.decode("utf-8")


def test_each_team_gets_only_its_vms_and_the_platform_all(relay, tmp_path):
    outcome = process(alert("01"), relay)
    assert outcome.ok and outcome.vm_count == 18
    assert sorted(d.receiver for d in outcome.deliveries) == ["db-team", "managers", "platform", "web-team"]
    assert not (tmp_path / "outbox" / "data-team").exists()  # owns no affected VM: nothing

    web = written(tmp_path, "web-team", "Planned")  # Slack, English only
    assert all(name in web for name in WEB) and not any(name in web for name in DB + OTHERS)
    assert "only your team's 6 (of 18 VMs affected in all)" in web
    assert "担当分" not in web and "6 VMs" in web

    db = written(tmp_path, "db-team", "Planned")  # Teams, Japanese only
    assert all(name in db for name in DB) and not any(name in db for name in WEB + OTHERS)
    assert "担当分の 6 台のみ（影響を受ける VM は全体で 18 台）" in db
    assert "only your team" not in db and "Affected VMs" not in db

    for receiver in ("platform", "managers"):  # the full list, both languages, no "only yours"
        full = written(tmp_path, receiver, "Planned")
        if receiver == "managers":  # an email lists them all
            assert all(name in full for name in WEB + DB + OTHERS)
        else:  # the card lists what its budget holds and counts the rest under the table
            table = full.split("対象 VM（緊急度の高い順）")[-1]
            shown = set(re.findall(r'"(vm-[a-z]+-\d+)', table))
            counted = re.findall(r"ほか (\d+) 台（全件は Azure ポータルの VM 一覧", table)
            assert len(shown) + int(counted[-1] if counted else 0) == 18, shown
        assert "担当分" not in full and "only your team" not in full
        assert "対象 VM" in full and "Affected VMs" in full


def test_a_split_event_is_still_delivered_once(relay, tmp_path):
    process(alert("01"), relay)
    before = sorted(p.name for p in (tmp_path / "outbox").rglob("*") if p.is_file())
    again = process(alert("02"), relay)  # the Action Group redelivers it
    assert again.status == "duplicate" and again.deliveries == ()
    assert sorted(p.name for p in (tmp_path / "outbox").rglob("*") if p.is_file()) == before


def test_managers_get_only_the_stages_they_want(relay, tmp_path):
    process(alert("01"), relay)
    outcome = process(alert("04"), relay)  # InProgress
    assert sorted(d.receiver for d in outcome.deliveries) == ["db-team", "platform", "web-team"]
    assert not list((tmp_path / "outbox" / "managers").glob("*InProgress*"))
    assert "vm-web-01" in written(tmp_path, "web-team", "InProgress")
