"""`relay config check` and `relay route` as a user runs them: real files, through a real process or through
`main` itself (a crash there fails the test with its traceback)."""
import copy
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.cli import main
from relay.cli.config_check import environment_problems, line_of
from relay.config import ConfigError, load_config, parse_config
from relay.config.document import ALIASES
from tests.properties import examples

ROOT = Path(__file__).resolve().parent.parent
ROUTING = ROOT / "tests" / "routing"


def relay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})}, timeout=120)


def test_every_problem_with_its_line_and_what_to_write():
    result = relay("config", "check", str(ROUTING / "broken.yaml"))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    where = str(ROUTING / "broken.yaml")
    assert lines == [
        f"{where}:4: receivers[0].destination: environment variable RELAY_TEST_TEAMS_URL is not set here; set it"
        " to the URL of a Teams Workflows webhook",  # said along with the file's problems, not after they are fixed
        f"{where}:8: receivers[1].languge: unknown setting for channel slack; did you mean language?",
        f"{where}:12: receivers[2].stages: 'Rescheduld' is unknown; did you mean Rescheduled?",
        f"{where}:18: route.routes[0].match.tags: unknown setting; did you mean tag?",
        f"{where}:21: route.routes[1].match_re.resource_group: 'rg-(web' is not a regular expression"
        " (missing ), unterminated subpattern at position 3); write \\ before a character meant literally,"
        " or use match: for plain text",
        f"{where}:22: route.routes[2].receiver: no receiver is named 'nobody'; there are: platform, web-team, managers",
        f"{where}:23: route.routes[2].continue: true (the routes after this one are tried too) or false",
        f"{where}: 7 problem(s)",
    ]


def test_secrets_environment_is_checked_and_never_printed():
    where = str(ROUTING / "env.yaml")
    retired = "https://contoso.webhook.office.com/webhookb2/aaaa-SECRET-1111@bbbb/IncomingWebhook/cccc/dddd"
    result = relay("config", "check", where, env={
        "RELAY_TEST_TEAMS_URL": "https://prod-00.japaneast.logic.azure.com/workflows/SECRET2/triggers/manual",
        "RELAY_TEST_OLD_TEAMS_URL": retired,
    })
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{where}:7: receivers[1].destination: receiver 'old-teams': environment variable"
                               " RELAY_TEST_OLD_TEAMS_URL holds an Office 365 connector URL")
    assert "Create a Workflows webhook instead" in lines[0]
    assert lines[1] == (f"{where}:10: receivers[2].destination: environment variable RELAY_TEST_SLACK_URL is not set"
                        " here; set it to the Slack incoming-webhook URL (https://hooks.slack.com/services/…)")
    assert len(lines) == 3 and "SECRET" not in result.stdout + result.stderr


def test_the_older_outlook_connector_address_is_retired_too():
    result = relay("config", "check", str(ROUTING / "env.yaml"), env={
        "RELAY_TEST_TEAMS_URL": "https://outlook.office.com/webhook/SECRET3@tenant/IncomingWebhook/x/y",
        "RELAY_TEST_OLD_TEAMS_URL": "https://prod-00.japaneast.logic.azure.com/workflows/a/triggers/manual",
        "RELAY_TEST_SLACK_URL": "https://hooks.slack.com/services/T0/B0/SECRET4",
    })
    assert result.returncode == 2
    assert result.stdout.splitlines()[0].startswith(f"{ROUTING / 'env.yaml'}:4: receivers[0].destination: receiver"
                                                    " 'platform': environment variable RELAY_TEST_TEAMS_URL holds")
    assert "SECRET" not in result.stdout


def test_a_good_config_and_bad_yaml(tmp_path):
    result = relay("config", "check", "examples/relay.yaml")
    assert result.returncode == 0, result.stdout
    assert result.stdout == ("examples/relay.yaml: OK: 4 receiver(s), a routing tree; reminders to platform, web-team,"
                             " db-team; quiet hours for db-team\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers:\n  - name: a\n    channel: [outbox\n", encoding="utf-8")
    result = relay("config", "check", str(bad))
    assert result.returncode == 2 and result.stdout.startswith(f"{bad}:4: not valid YAML")
    assert relay("config", "check", env={"RELAY_CONFIG": "examples/relay.yaml"}).returncode == 0


def test_quiet_hours_and_reminders_are_checked_with_their_lines(tmp_path, capsys):
    path = tmp_path / "relay.yaml"
    path.write_text(
        "receivers:\n"
        "  - name: db-team\n"
        "    channel: outbox\n"
        "    format: teams\n"
        "    quiet_hours:\n"
        "      - days: mon-fri\n"
        "        from: 25:00\n"  # unquoted: YAML 1.1 reads it as 1500
        "        to: \"08:00\"\n"
        "reminders:\n"
        "  deadline: [3d, 1d, 4hours]\n", encoding="utf-8")
    code, lines = check(path, capsys)
    assert (code, lines) == (2, [
        f'{path}:7: receivers[0].quiet_hours[0].from: a time from "00:00" to "23:59", like "22:00" (got \'25:00\')',
        f"{path}:10: reminders.deadline[2]: a duration like 30m, 4h, 3d or 1w (got '4hours')",
        f"{path}: 2 problem(s)"])


def test_the_summary_says_who_gets_reminders_and_who_has_quiet_hours(tmp_path, capsys):
    path = tmp_path / "relay.yaml"
    path.write_text(
        "receivers:\n"
        "  - {name: a, channel: outbox, format: teams, quiet_hours: [{days: sat-sun}]}\n"
        "  - {name: b, channel: outbox, format: email, audience: managers}\n", encoding="utf-8")
    assert check(path, capsys) == (0, [f"{path}: OK: 2 receiver(s), no routing tree; reminders to a;"
                                       " quiet hours for a"])
    path.write_text("receivers:\n  - {name: a, channel: outbox, format: teams}\n"
                    "reminders: {deadline: [], reboot: [], all_done: false, receivers: [a]}\n", encoding="utf-8")
    assert check(path, capsys) == (0, [f"{path}: OK: 1 receiver(s), no routing tree; reminders to nobody"])


def test_route_shows_who_gets_which_vms_without_sending(tmp_path):
    result = relay("route", "examples/alerts/01-planned.json", "--config", str(ROUTING / "teams.yaml"),
                   "--now", "2027-01-12T00:00:00Z")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "examples/alerts/01-planned.json: maintenance Planned XY12-3ZQ: 18 VM(s) of ours" \
                       " (looked up by impacted list)"
    by_receiver = {line.split()[0]: line for line in lines[1:]}
    assert by_receiver["platform"].endswith("teams via outbox, both: all 18 VM(s)")
    assert by_receiver["managers"].endswith("email via outbox, both: all 18 VM(s)")
    assert "slack via outbox, en: 6 of 18 VM(s): " in by_receiver["web-team"]
    assert {n.strip() for n in by_receiver["web-team"].split(": ")[-1].split(",")} == {
        "vm-web-01", "vm-web-02", "vm-web-03", "vm-web-04", "vm-web-05", "vm-web-11"}
    assert "teams via outbox, ja: 6 of 18 VM(s): " in by_receiver["db-team"]
    assert by_receiver["data-team"].endswith("nothing: no route gives it any of this event")
    assert not (ROOT / "outbox" / "data-team").exists()

    inprogress = relay("route", "examples/alerts/04-inprogress.json", "--config", str(ROUTING / "teams.yaml"),
                       "--inventory", "examples/inventory.json").stdout
    assert "managers   nothing: does not want maintenance InProgress" in inprogress


def test_route_json_is_the_same_plan_as_data():
    args = ("route", "examples/alerts/04-inprogress.json", "--config", str(ROUTING / "teams.yaml"),
            "--inventory", "examples/inventory.json")
    plan = json.loads(relay(*args, "--json").stdout)
    text = relay(*args).stdout
    assert (plan["kind"], plan["stage"], plan["tracking_id"]) == ("maintenance", "InProgress", "XY12-3ZQ")
    receivers = {r["name"]: r for r in plan["receivers"]}
    assert receivers["platform"]["gets"] == "all" and len(receivers["platform"]["vms"]) == plan["vm_count"]
    web = receivers["web-team"]
    assert (web["gets"], web["channel"], web["transport"], web["language"]) == ("some", "slack", "outbox", "en")
    assert all(v["id"].startswith("/subscriptions/") and v["name"].startswith("vm-web-") for v in web["vms"])
    assert f"{len(web['vms'])} of {plan['vm_count']} VM(s)" in text
    assert receivers["managers"] == {**receivers["managers"], "gets": "nothing", "vms": [],
                                     "why": "does not want maintenance InProgress"}


def check(path: Path, capsys) -> tuple[int, list[str]]:
    code = main(["config", "check", str(path)])
    return code, capsys.readouterr().out.splitlines()


SMTP = "receivers:\n  - name: m\n    channel: email\n    destination: RELAY_TEST_SMTP_URL\n    to: [a@example.com]\n"
TEAMS = "receivers:\n  - name: t\n    channel: teams\n    destination: RELAY_TEST_TEAMS_URL\n"


@pytest.mark.parametrize("content, environ, expected", [
    (b"receivers: 5\n", {},
     "1: receivers: must be a non-empty list of receivers, each a mapping with name and channel"),
    (b"receivers:\n  - name: a\n    channel: {a: b}\n", {},
     "3: receivers[0].channel: must be one of teams, slack, email, outbox (got a mapping)"),
    (b"receivers:\n  - name: caf\xe9\n    channel: outbox\n", {},
     "2: the file is not UTF-8 text (byte 0xE9 on this line); save it as UTF-8"),
    (SMTP.encode(), {"RELAY_TEST_SMTP_URL": "smtp://relay:SECRET@mail.example.com:abc"},
     "4: receivers[0].destination: receiver 'm': environment variable RELAY_TEST_SMTP_URL: the port after the host"
     " must be a number from 1 to 65535"),
    (TEAMS.encode(), {"RELAY_TEST_TEAMS_URL": "ftp://files.example.com/SECRET"},
     "4: receivers[0].destination: receiver 't': the URL in environment variable RELAY_TEST_TEAMS_URL must start"
     " with https:// (http:// is accepted only for 127.0.0.1 and localhost)"),
    (b"receivers:\n  - name: a\n    channel: outbox\n    format: teams\n    stages: 2027-02-30\n", {},
     "5: not valid YAML: YAML reads '2027-02-30' as a timestamp, but it is not one; quote it to keep it as text"),
])
def test_a_wrong_type_or_value_is_a_line_with_its_fix_never_a_crash(content, environ, expected, tmp_path, capsys,
                                                                    monkeypatch):
    path = tmp_path / "relay.yaml"
    path.write_bytes(content)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code, lines = check(path, capsys)
    assert code == 2
    assert lines[0] == f"{path}:{expected}"
    assert "SECRET" not in "\n".join(lines)


def test_an_alias_bomb_is_refused_at_its_first_alias_before_anything_is_expanded(tmp_path, capsys):
    # Seven levels of nine aliases: 4.8 million strings once expanded, so a check that expanded it (to print
    # it, say) would show in memory, yet fail quickly rather than hang.
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]" for before, name in zip("abcdef", "bcdefg", strict=True)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nreceivers:\n  - {name: x, channel: *g}\n", encoding="utf-8")
    tracemalloc.start()
    try:
        code, lines = check(bomb, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (code, lines) == (2, [f"{bomb}:2: {ALIASES}"])  # line 2 holds the first alias: nothing after it was read
    assert peak < 8_000_000


def test_any_alias_is_refused_by_the_loader_the_hosts_use_too(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text("receivers:\n  - &one {name: a, channel: outbox, format: teams}\n  - *one\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}:3: {ALIASES}"


# Every setting the config has, each set to a good value: the property below puts a value of any type in
# any one place of it.
FULL = {
    "outbox": "out", "inventory": "inventory.json", "ledger": "ledger.sqlite",
    "receivers": [
        {"name": "t", "channel": "teams", "destination": "RELAY_TEST_TEAMS_URL", "auth": "entra",
         "audience": "https://flow.example/", "language": "ja", "kinds": ["maintenance"], "stages": ["Planned"],
         "max_per_second": 2, "quiet_hours": [{"days": ["mon", "fri"], "from": "22:00", "to": "08:00"},
                                                {"days": "sat-sun"}]},
        {"name": "s", "channel": "slack", "token": "RELAY_TEST_SLACK_TOKEN", "slack_channel": "C0123456789",
         "api_url": "https://slack.com/api/"},
        {"name": "w", "channel": "slack", "destination": "RELAY_TEST_SLACK_URL"},
        {"name": "m", "channel": "email", "via": "smtp", "destination": "RELAY_TEST_SMTP_URL", "to": ["a@example.com"],
         "from": "relay@example.com", "audience": "managers", "environment_tag": "env", "production_values": ["prod"],
         "owner_tag": "owner"},
        {"name": "a", "channel": "email", "via": "acs", "destination": "RELAY_TEST_ACS", "to": "a@example.com",
         "from": "relay@example.com"},
        {"name": "g", "channel": "email", "via": "graph", "sender": "relay@example.com", "to": "a@example.com",
         "graph_url": "https://graph.microsoft.com", "authority": "https://login.microsoftonline.com"},
        {"name": "o", "channel": "outbox", "format": "email", "to": "a@example.com", "from": "relay@example.com"},
    ],
    "route": {"receiver": "t", "routes": [
        {"receiver": "s", "continue": True, "routes": [{"receiver": "w"}],
         "match": {"kind": "maintenance", "stage": ["Planned"], "level": "Warning", "tag": {"owner": "web"},
                   "subscription": ["0a1b2c3d-1111-2222-3333-444455556666"], "region": "Japan East"},
         "match_re": {"resource_group": "rg-.*", "service": "Virtual.*"}}]},
    "operations": ["t"],
    "azure": {"subscriptions": ["0a1b2c3d-1111-2222-3333-444455556666"], "tenant_wide": False, "time_budget_seconds": 20,
              "arm_url": "https://management.azure.com", "authority": "https://login.microsoftonline.com",
              "backfill": {"services": ["Virtual Machines"], "regions": ["Japan East"]}},
    "digest": {"receivers": ["m", {"name": "o", "all_clear": True}], "team_tag": "owner", "all_clear": False,
               "horizon_days": 14, "deadline_days": 7},
    "reminders": {"deadline": ["3d", "1d", "4h"], "reboot": "1h", "all_done": True, "receivers": ["t", "s"]},
    "urgent": {"reasons": ["scheduled_event", "deadline"], "deadline_within": "24h"},
}


def places(node, where=()):
    yield where
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from places(child, (*where, key))


def put(value, where):
    data = copy.deepcopy(FULL)
    if not where:
        return value
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return data


# What YAML can give: scalars of every type (with the words the config knows), lists and mappings of them.
WORDS = st.sampled_from(["teams", "slack", "email", "outbox", "smtp", "graph", "acs", "managers", "entra", "t",
                         "RELAY_TEST_TEAMS_URL", "maintenance", "Planned"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.dates() | st.datetimes() | st.text(max_size=12)
           | WORDS)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(SCALARS.filter(lambda v: v == v), inner, max_size=3), max_leaves=8)
SECRETS = st.sampled_from(["", "https://x.example/a", "http://[::1", "smtp://u:p@h:abc", "smtps://-h-:0", "xoxb-1",
                           "endpoint=https://a.example:99999/;accesskey=a2V5", "ftp://x/y"]) | st.text(max_size=20)
VARIABLES = ["RELAY_TEST_TEAMS_URL", "RELAY_TEST_SLACK_TOKEN", "RELAY_TEST_SLACK_URL", "RELAY_TEST_SMTP_URL",
             "RELAY_TEST_ACS"]


PLACES = list(places(FULL))


@settings(max_examples=examples(150))
@given(value=VALUES, environ=st.dictionaries(st.sampled_from(VARIABLES), SECRETS), shown_at=st.sampled_from(PLACES))
def test_no_value_of_any_type_anywhere_crashes_the_parser_or_the_check(value, environ, shown_at):
    for where in PLACES:
        data = put(value, where)
        try:
            parse_config(data)
            problems = []
        except ConfigError as e:
            problems = list(e.problems)
        problems += environment_problems(data, Path("/nonexistent"), environ)
        if where == shown_at:
            root = yaml.compose(yaml.safe_dump(data, sort_keys=False))
            assert all(line_of(root, problem.split(":", 1)[0]) >= 1 for problem in problems)


BOT_YAML = (
    "receivers:\n"
    "  - name: ops-bot\n"
    "    channel: teams\n"
    "    via: bot\n"
    "    app_id: 5d0c3b7e-8f21-4a6d-9b3e-1c2d3e4f5a6b\n"
    "    tenant_id: 3c9a1f2e-7b6d-4e5f-8a9b-0c1d2e3f4a5b\n"
    "    team_channel: \"19:c0ffee00ba5e4c1d8e2f3a4b5c6d7e8f@thread.tacv2\"\n"
    "    service_url: https://smba.trafficmanager.net/apac/\n")


def test_a_teams_bot_receiver_checks_ok_and_its_problems_have_their_lines(tmp_path, capsys):
    path = tmp_path / "relay.yaml"
    path.write_text(BOT_YAML, encoding="utf-8")  # no secret: the Function's managed identity is the bot
    assert check(path, capsys) == (0, [f"{path}: OK: 1 receiver(s), no routing tree; reminders to ops-bot"])
    path.write_text(BOT_YAML.replace("team_channel: \"19:c0ffee00ba5e4c1d8e2f3a4b5c6d7e8f@thread.tacv2\"",
                                     "team_channel: General")
                    .replace("https://smba", "http://smba") + "    destination: TEAMS_WEBHOOK_URL\n", encoding="utf-8")
    code, lines = check(path, capsys)
    assert code == 2 and lines == [
        f"{path}:7: receivers[0].team_channel: the channel's id, like 19:…@thread.tacv2 (in Teams: the channel's ⋯ →"
        " Get link to channel; the id is the part after /channel/, URL-decoded) (got 'General')",
        f"{path}:8: receivers[0].service_url: an https:// URL",
        f"{path}:9: receivers[0].destination: a Teams bot (via: bot) posts as the bot, through no webhook; leave"
        " destination out",
        f"{path}: 3 problem(s)"]


def test_a_teams_bot_secret_variable_is_checked_and_never_printed(tmp_path, capsys, monkeypatch):
    path = tmp_path / "relay.yaml"
    path.write_text(BOT_YAML + "    secret: RELAY_TEST_BOT_SECRET\n", encoding="utf-8")
    monkeypatch.delenv("RELAY_TEST_BOT_SECRET", raising=False)
    assert check(path, capsys) == (2, [
        f"{path}:9: receivers[0].secret: environment variable RELAY_TEST_BOT_SECRET is not set here; set it to the"
        " client secret of the Teams bot's app registration",
        f"{path}: 1 problem(s)"])
    monkeypatch.setenv("RELAY_TEST_BOT_SECRET", "Zq8~client.secret-value_42")
    code, lines = check(path, capsys)
    assert code == 0 and "Zq8~" not in "\n".join(lines)
