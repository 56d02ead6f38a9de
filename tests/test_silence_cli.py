"""`relay silence add|list|expire` on the config's ledger, and on Table Storage when the environment names it."""
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from relay.cli import main
from relay.model import Matcher
from relay.store.sqlite import SqliteLedger

pytest_plugins = ["tests.azurite"]

NOW = "2027-01-05T02:10:00Z"
T0 = datetime(2027, 1, 5, 2, 10, tzinfo=UTC)


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A config whose ledger is a SQLite file beside it; no Table Storage in the environment."""
    for name in [name for name in os.environ if name.startswith("RELAY_TABLES_CONNECTION")]:
        monkeypatch.delenv(name)
    path = tmp_path / "relay.yaml"
    path.write_text(json.dumps({"ledger": "ledger.sqlite",
                                "receivers": [{"name": "mail", "channel": "outbox", "format": "email"},
                                              {"name": "db-team", "channel": "outbox", "format": "teams"}]}))
    return path


def silence(capsys, *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `relay silence ARGS`."""
    try:
        status = main(["silence", *args])
    except SystemExit as e:  # argparse: --help, or an argument it refused
        status = e.code
    said = capsys.readouterr()
    return status, said.out, said.err


def add(capsys, config, *args: str, now: str = NOW) -> str:
    """The id of the silence added."""
    status, out, err = silence(capsys, "add", *args, "--by", "sato", "--comment", "web tier patching",
                               "--config", str(config), "--now", now)
    assert status == 0, err
    return out.split()[0]


def test_a_silence_is_added_with_its_id_and_a_summary_in_jst_and_utc(capsys, config):
    status, out, err = silence(capsys, "add", "--match", "resource_group=rg-web", "--match-re", "tag:env=^prod",
                               "--for", "2h", "--by", "sato", "--comment", "web tier patching",
                               "--config", str(config), "--now", NOW)
    assert status == 0 and err == ""
    silence_id = out.split()[0]
    assert re.fullmatch(r"[0-9a-f]{8}", silence_id)
    assert out == (f"{silence_id}  active until Tue 5 Jan 2027 13:10 JST (2027-01-05 04:10 UTC):"
                   " resource_group=rg-web, tag:env=~^prod (sato: web tier patching)\n")
    ledger = SqliteLedger(config.parent / "ledger.sqlite")
    try:
        [kept] = ledger.silences()
    finally:
        ledger.close()
    assert kept.matchers == (Matcher("resource_group", "rg-web"), Matcher("tag", "^prod", regex=True, tag="env"))
    assert (kept.starts, kept.ends, kept.created_at) == (T0, T0 + timedelta(hours=2), T0)


@pytest.mark.parametrize("match, said", [
    ("receiver=db-tem", "no receiver is named 'db-tem': the config has mail, db-team"),
    ("kind=maintenence", "no kind is named 'maintenence': the kinds are maintenance, incident"),
])
def test_a_receiver_or_kind_that_does_not_exist_is_refused_as_a_typo(capsys, config, match, said):
    status, out, err = silence(capsys, "add", "--match", match, "--for", "2h", "--by", "sato", "--comment", "x",
                               "--config", str(config), "--now", NOW)
    assert (status, out) == (2, "") and said in err


def test_list_shows_active_and_pending_by_start_and_all_shows_the_expired(capsys, config):
    later = add(capsys, config, "--match", "receiver=db-team", "--start", "2027-01-12T09:00+09:00", "--for", "8h")
    now = add(capsys, config, "--match", "region=Japan East", "--until", "2027-01-06T00:00:00Z")
    status, out, _ = silence(capsys, "list", "--config", str(config), "--now", NOW)
    assert status == 0
    assert out.splitlines() == [
        "id        state    matchers           start – end (JST)                    by    comment",
        f"{now}  active   region=Japan East  2027-01-05 11:10 – 2027-01-06 09:00  sato  web tier patching",
        f"{later}  pending  receiver=db-team   2027-01-12 09:00 – 2027-01-12 17:00  sato  web tier patching",
    ]
    assert silence(capsys, "expire", now, "--config", str(config), "--now", "2027-01-05T03:00:00Z")[0] == 0
    out = silence(capsys, "list", "--config", str(config), "--now", "2027-01-05T03:00:00Z")[1]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [[later, "pending"]]
    out = silence(capsys, "list", "--all", "--config", str(config), "--now", "2027-01-05T03:00:00Z")[1]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [[now, "expired"], [later, "pending"]]
    assert "2027-01-05 11:10 – 2027-01-05 12:00" in out  # its end moved to when it was expired


def test_nothing_to_list_is_said(capsys, config):
    assert silence(capsys, "list", "--config", str(config))[:2] == (
        0, "no active or pending silences (--all shows the expired too)\n")


def test_expire_ends_a_silence_now_and_an_unknown_id_is_bad_input(capsys, config):
    silence_id = add(capsys, config, "--match", "stage=Planned", "--for", "1d")
    status, out, _ = silence(capsys, "expire", silence_id, "--config", str(config), "--now", "2027-01-05T05:00:00Z")
    assert status == 0
    assert out.startswith(f"{silence_id}  expired at Tue 5 Jan 2027 14:00 JST (2027-01-05 05:00 UTC): stage=Planned")
    status, out, err = silence(capsys, "expire", "0badc0de", "--config", str(config))
    assert (status, out) == (2, "")
    assert err == "relay: no silence has the id '0badc0de': `relay silence list --all` shows them\n"


@pytest.mark.parametrize("args, said", [
    (["--for", "2h"], "a silence needs at least one --match or --match-re"),
    (["--match", "colour=red", "--for", "2h"], "no field 'colour': the fields are subscription, resource_group,"),
    (["--match", "tag=prod", "--for", "2h"], "a tag has a name: tag:NAME=VALUE"),
    (["--match", "region", "--for", "2h"], "not FIELD=VALUE: 'region'"),
    (["--match-re", "stage=Planned(", "--for", "2h"], "not a regular expression: 'Planned('"),
    (["--match", "stage=Planned", "--for", "2 hours"], "not a duration: '2 hours' (like 30m, 2h, 3d or 1w)"),
    (["--match", "stage=Planned", "--for", "0m"], "not a duration: '0m'"),
    (["--match", "stage=Planned", "--until", "tomorrow"], "not an ISO 8601 time: 'tomorrow'"),
    (["--match", "stage=Planned"], "one of the arguments --for --until is required"),
    (["--match", "stage=Planned", "--for", "2h", "--until", "2027-01-06T00:00Z"], "not allowed with argument"),
    (["--match", "stage=Planned", "--start", "2027-01-06T00:00Z", "--until", "2027-01-05T12:00Z"],
     "the silence would end before it starts: from Wed 6 Jan 2027 09:00 JST (2027-01-06 00:00 UTC) until"),
    (["--match", "stage=Planned", "--start", "2027-01-01T00:00Z", "--until", "2027-01-05T00:00Z"],
     "the silence would be over already: it ends Tue 5 Jan 2027 09:00 JST"),
    (["--match", "stage=Planned", "--for", "13w"],
     "a silence lasts at most 90 days, and this one would last 91d: one that long is easily forgotten"),
])
def test_bad_input_is_exit_2_saying_what_was_wrong(capsys, config, args, said):
    status, out, err = silence(capsys, "add", *args, "--by", "sato", "--comment", "c", "--config", str(config),
                               "--now", NOW)
    assert (status, out) == (2, "") and said in err and "Traceback" not in err
    assert not (config.parent / "ledger.sqlite").exists()  # nothing kept


def test_who_and_why_are_needed(capsys, config):
    status, _, err = silence(capsys, "add", "--match", "stage=Planned", "--for", "2h", "--by", " ", "--comment",
                             "c", "--config", str(config))
    assert status == 2 and "say who sets the silence (--by) and why (--comment)" in err
    status, _, err = silence(capsys, "add", "--match", "stage=Planned", "--for", "2h", "--config", str(config))
    assert status == 2 and "the following arguments are required: --by, --comment" in err


def test_a_silence_too_large_to_keep_is_refused(capsys, config):
    status, _, err = silence(capsys, "add", "--match", "stage=Planned", "--for", "2h", "--by", "sato",
                             "--comment", "x" * 40_000, "--config", str(config), "--now", NOW)
    assert status == 2 and "more than the 32000 the ledger keeps of one: shorten the comment or the matchers" in err


def test_help_teaches_with_examples(capsys):
    status, out, _ = silence(capsys, "--help")
    assert status == 0 and "relay silence add --match resource_group=rg-web --for 2h" in out
    assert "relay remind" in out and "RELAY_TABLES_CONNECTION" in out
    status, out, _ = silence(capsys, "add", "--help")
    assert status == 0
    assert "tag:NAME (a VM's tag)" in out and "2027-01-12T09:00+09:00 is 09:00 JST" in out and "--match-re" in out
    assert "at most 90 days" in out
    assert "relay silence expire 1a2b3c4d" in silence(capsys, "expire", "--help")[1]


@pytest.mark.integration
def test_the_table_ledger_is_used_when_the_environment_names_it(capsys, config, azurite, monkeypatch):
    monkeypatch.setenv("RELAY_TABLES_CONNECTION", azurite)
    monkeypatch.setenv("RELAY_TABLE", f"silences{uuid.uuid4().hex[:12]}")
    silence_id = add(capsys, config, "--match", "subscription=0a1b2c3d-1111-2222-3333-444455556666", "--for", "1w")
    out = silence(capsys, "list", "--config", str(config), "--now", NOW)[1]
    assert out.splitlines()[1].split()[:2] == [silence_id, "active"]
    assert not (config.parent / "ledger.sqlite").exists()
