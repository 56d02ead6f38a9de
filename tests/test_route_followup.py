"""`relay route` says when each share would go (at once, after the receiver's quiet hours, or held by a silence)
and the reminders it would get, without sending or writing anything."""
import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from relay.cli import main
from relay.model import Matcher, Silence
from relay.store.sqlite import SqliteLedger

ALERT = "examples/alerts/01-planned.json"
NIGHT = "2027-01-06T14:00:00Z"  # Wednesday 23:00 JST: db-team's quiet hours


def route(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["route", ALERT, *args]) == 0
    return out.getvalue()


def test_a_share_in_quiet_hours_waits_and_the_reminders_ahead_are_listed():
    out = route("--config", "examples/relay.yaml", "--now", NIGHT)
    db_team = out[out.index("  db-team"):out.index("  managers")]
    assert "now: held for its quiet hours until Thu 7 Jan 08:00 JST" in db_team
    assert "reminders: deadline 3d at Sun 7 Feb 09:00 JST, deadline 1d at Tue 9 Feb 09:00 JST" in db_team
    web_team = out[out.index("  web-team"):out.index("  db-team")]
    assert "now:" not in web_team  # it goes at once, as usual
    managers = out[out.index("  managers"):]
    assert "reminders" not in managers  # managers read the digest, not reminders


def test_urgent_news_in_quiet_hours_says_why_it_goes_at_once():
    out = route("--config", "examples/relay.yaml", "--now", "2027-02-09T14:00:00Z")  # Tuesday 23:00 JST
    db_team = out[out.index("  db-team"):out.index("  managers")]
    assert "now: sent at once, in its quiet hours: urgent (deadline)" in db_team  # its deadline is 10 Feb 09:00


def test_the_json_plan_carries_the_same(tmp_path):
    plan = json.loads(route("--config", "examples/relay.yaml", "--now", NIGHT, "--json"))
    db_team = next(r for r in plan["receivers"] if r["name"] == "db-team")
    assert db_team["now"] == {"hold": "quiet_hours", "until": "2027-01-06T23:00:00Z", "urgent": None, "silence": None}
    assert db_team["reminders"][0] == {"kind": "deadline", "before": "3d", "at": "2027-02-07T00:00:00Z"}


def test_a_silence_in_the_ledger_shows_and_nothing_is_written(tmp_path):
    config = yaml.safe_load(Path("examples/relay.yaml").read_text(encoding="utf-8"))
    config.update(inventory=str(Path("examples/inventory.json").resolve()), ledger="ledger.sqlite")
    config_file = tmp_path / "relay.yaml"
    config_file.write_text(yaml.safe_dump(config))
    assert "now:" not in route("--config", str(config_file), "--now", "2027-01-06T03:00:00Z")
    assert not (tmp_path / "ledger.sqlite").exists()  # no ledger: no silences, and none is made

    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    noon = datetime(2027, 1, 6, 3, tzinfo=UTC)
    ledger.add_silence(Silence("ab12cd34", (Matcher("receiver", "web-team"),), noon - timedelta(hours=1),
                               noon + timedelta(hours=2), "sato", "web tier rebuild", noon))
    ledger.close()
    out = route("--config", str(config_file), "--now", "2027-01-06T03:00:00Z")
    web_team = out[out.index("  web-team"):out.index("  db-team")]
    assert "now: held by silence ab12cd34 until Wed 6 Jan 14:00 JST" in web_team
