"""`relay config check` and `relay route` as a user runs them: a real process, real files."""
import json
import subprocess
import sys
from pathlib import Path

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
    assert result.stdout == "examples/relay.yaml: OK: 4 receiver(s), a routing tree\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers:\n  - name: a\n    channel: [outbox\n", encoding="utf-8")
    result = relay("config", "check", str(bad))
    assert result.returncode == 2 and result.stdout.startswith(f"{bad}:4: not valid YAML")
    assert relay("config", "check", env={"RELAY_CONFIG": "examples/relay.yaml"}).returncode == 0


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
