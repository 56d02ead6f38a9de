"""`relay provision` end to end: the command in a process of its own, signed in with DefaultAzureCredential
from the environment, against the ARM emulator (tests/emulator/monitor.py), which validates each PUT as
ARM does and records it. Then the plan logic on its own."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.cli import main
from relay.provision.plan import CREATE, UNCHANGED, UPDATE, compare, differences
from relay.provision.wanted import (
    ACTION_GROUP,
    RESOURCE_GROUP,
    RESOURCE_HEALTH,
    SERVICE_HEALTH,
    Options,
    SecureWebhook,
    problems,
    resources,
)
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator, Estate

ROOT = Path(__file__).resolve().parent.parent
KEY = "s3cr3tFunctionKey0123456789abcdefABCDEF=="
URL = f"https://func-relay.azurewebsites.net/api/alerts?code={KEY}"
RG = "/subscriptions/{}/resourceGroups/rg-maintenance-relay"


def relay_provision(emu: ArmEmulator, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "relay.yaml"
    config.write_text(json.dumps({"azure": {"arm_url": emu.url, "authority": emu.url}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_"))}
    env |= {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "SSL_CERT_FILE": str(emu.tls.bundle)}
    done = subprocess.run([sys.executable, "-m", "relay", "provision", "-v", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert KEY not in done.stdout + done.stderr  # the function key, in the table, the progress and the logs
    assert CLIENT_SECRET not in done.stdout + done.stderr
    return done


def results(done: subprocess.CompletedProcess) -> dict[tuple[str, str], str]:
    """(subscription, resource) → RESULT, from the table."""
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["SUBSCRIPTION", "RESOURCE", "NAME", "RESULT"]
    at = lines[0].index("RESULT"), lines[0].index("NAME")
    return {(line[:36], line[38:at[1]].strip()): line[at[0]:] for line in lines[1:]}


def test_dry_run_then_create_then_nothing_then_only_the_changed_rule(ca, tmp_path):
    a, b = Estate(vms=2, subscriptions=2).subscriptions
    with ArmEmulator(Estate(vms=2, subscriptions=2), tls=ca) as emu:
        dry = relay_provision(emu, tmp_path, "--subscription", a, b, "--function-url", URL, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert emu.monitor.puts == []
        assert set(results(dry).values()) == {"create"} and len(results(dry)) == 8
        assert "provision (dry run, nothing changed): 8 to create, 0 to update, 0 unchanged;" \
               " 0 of 2 subscription(s) failed" in dry.stderr

        first = relay_provision(emu, tmp_path, "--subscription", a, "--subscription", b, "--function-url", URL)
        assert first.returncode == 0, first.stderr
        assert set(results(first).values()) == {"created"}
        assert len(emu.monitor.puts) == 8
        for sub in (a, b):
            assert f"{sub}: created action group ag-maintenance-relay" in first.stderr
            group = emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/actionGroups"
                                           "/ag-maintenance-relay").lower()]
            assert group["location"] == "Global" and group["properties"]["groupShortName"] == "mntrelay"
            assert group["properties"]["webhookReceivers"][0]["serviceUri"] == URL
            assert group["properties"]["webhookReceivers"][0]["useCommonAlertSchema"] is True
            rule = emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/activityLogAlerts"
                                          "/alert-relay-service-health").lower()]
            assert rule["properties"]["scopes"] == [f"/subscriptions/{sub}"]
            assert rule["properties"]["condition"]["allOf"][-1] == {
                "field": "properties.impactedServices[*].ImpactedRegions[*].RegionName",
                "containsAny": ["Japan East", "Japan West"]}
        assert "provision: 8 created, 0 updated, 0 unchanged; 0 of 2 subscription(s) failed" in first.stderr

        again = relay_provision(emu, tmp_path, "--subscription", a, b, "--function-url", URL)
        assert again.returncode == 0, again.stderr
        assert set(results(again).values()) == {"unchanged"}
        assert len(emu.monitor.puts) == 8  # not one PUT more

        east = relay_provision(emu, tmp_path, "--subscription", a, b, "--function-url", URL, "--region", "Japan East")
        assert east.returncode == 0, east.stderr
        changed = {key: value for key, value in results(east).items() if value != "unchanged"}
        assert changed == {(a, SERVICE_HEALTH): "updated: condition.allOf[3].containsAny",
                           (b, SERVICE_HEALTH): "updated: condition.allOf[3].containsAny"}
        assert [put.rsplit("/", 1)[-1] for put in emu.monitor.puts[8:]] == ["alert-relay-service-health"] * 2
        rule = emu.monitor.resources[(RG.format(a) + "/providers/Microsoft.Insights/activityLogAlerts"
                                      "/alert-relay-service-health").lower()]
        assert rule["properties"]["condition"]["allOf"][-1]["containsAny"] == ["Japan East"]


def test_a_refused_subscription_says_the_role_it_needs_and_the_others_are_done(ca, tmp_path):
    estate = Estate(vms=2, subscriptions=2)
    a, denied = estate.subscriptions
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        done = relay_provision(emu, tmp_path, "--subscription", denied, a, "--function-url", URL)
        assert len(emu.monitor.puts) == 4
    assert done.returncode == 1
    table = results(done)
    assert {table[(a, kind)] for kind in (RESOURCE_GROUP, ACTION_GROUP, SERVICE_HEALTH, RESOURCE_HEALTH)} == {"created"}
    assert table[(denied, RESOURCE_GROUP)] == "failed" and table[(denied, ACTION_GROUP)] == "not read"
    assert f"{denied}: denied (403): the identity needs Monitoring Contributor on the subscription, and Contributor" \
           " to create resource group rg-maintenance-relay" in done.stderr
    assert "provision: 4 created, 0 updated, 0 unchanged; 1 of 2 subscription(s) failed" in done.stderr


def test_an_action_group_changed_in_the_portal_is_updated_and_keeps_its_other_receivers(ca, tmp_path):
    estate = Estate(vms=2, subscriptions=1)
    (sub,) = estate.subscriptions
    with ArmEmulator(estate, tls=ca) as emu:
        relay_provision(emu, tmp_path, "--subscription", sub, "--function-url", URL)
        group = emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/actionGroups"
                                       "/ag-maintenance-relay").lower()]
        group["properties"]["enabled"] = False
        group["properties"]["emailReceivers"] = [{"name": "ops", "emailAddress": "ops@example.com",
                                                  "useCommonAlertSchema": True}]
        rotated = URL.replace(KEY, "rotated" + KEY[7:])
        done = relay_provision(emu, tmp_path, "--subscription", sub, "--function-url", rotated)
        assert "rotated" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    assert results(done)[(sub, ACTION_GROUP)] == "updated: enabled, webhookReceivers[0].serviceUri"
    assert group is not emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/actionGroups"
                                               "/ag-maintenance-relay").lower()]
    stored = emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/actionGroups"
                                    "/ag-maintenance-relay").lower()]["properties"]
    assert stored["enabled"] is True and stored["webhookReceivers"][0]["serviceUri"] == rotated
    assert stored["emailReceivers"][0]["emailAddress"] == "ops@example.com"


def test_a_secure_webhook_is_set_up_with_its_entra_fields(ca, tmp_path):
    estate = Estate(vms=2, subscriptions=1)
    (sub,) = estate.subscriptions
    with ArmEmulator(estate, tls=ca) as emu:
        done = relay_provision(emu, tmp_path, "--subscription", sub, "--function-url", URL, "--secure-webhook",
                               "--tenant-id", TENANT_ID, "--object-id", CLIENT_ID, "--identifier-uri", "api://relay")
        group = emu.monitor.resources[(RG.format(sub) + "/providers/Microsoft.Insights/actionGroups"
                                       "/ag-maintenance-relay").lower()]
    assert done.returncode == 0, done.stderr
    (receiver,) = group["properties"]["webhookReceivers"]
    assert receiver == {"name": "relay-ingest", "serviceUri": URL, "useCommonAlertSchema": True, "useAadAuth": True,
                        "tenantId": TENANT_ID, "objectId": CLIENT_ID, "identifierUri": "api://relay"}


def test_a_refused_secure_webhook_names_the_app_registration_its_creator_must_own(ca, tmp_path):
    estate = Estate(vms=2, subscriptions=1)
    (sub,) = estate.subscriptions
    with ArmEmulator(estate, tls=ca) as emu:
        emu.monitor.not_owner_of = {CLIENT_ID.lower()}
        done = relay_provision(emu, tmp_path, "--subscription", sub, "--function-url", URL, "--secure-webhook",
                               "--tenant-id", TENANT_ID, "--object-id", CLIENT_ID, "--identifier-uri", "api://relay")
    assert done.returncode == 1
    assert results(done)[(sub, ACTION_GROUP)] == "failed"
    assert (f"{sub}: denied (403): the identity needs Monitoring Contributor on the subscription; for the secure"
            f" webhook it must also be an owner of the Entra app registration (object id {CLIENT_ID})") in done.stderr


def test_bad_input_is_exit_2_and_never_shows_the_key(capsys):
    sub = "0a1b2c3d-1111-2222-3333-444455556666"
    assert main(["provision", "--subscription", sub, "--function-url", URL.replace("https", "http")]) == 2
    assert main(["provision", "--subscription", sub, "--function-url", URL, "--short-name", "maintenance-relay"]) == 2
    assert main(["provision", "--subscription", sub, "--function-url", URL, "--region", "japaneast"]) == 2
    assert main(["provision", "--subscription", sub, "--function-url", URL, "--secure-webhook"]) == 2
    assert main(["provision", "--subscription", sub, "--function-url", URL, "--tenant-id", TENANT_ID]) == 2
    err = capsys.readouterr().err
    assert "--function-url must be an https:// URL, not 'http://func-relay.azurewebsites.net/api/alerts?code=" in err
    assert "--short-name 'maintenance-relay': 1 to 12 characters (it has 17)" in err
    assert "--region 'japaneast': Service Health names regions as the portal does" in err
    assert "--secure-webhook needs --tenant-id, --object-id and --identifier-uri" in err
    assert KEY not in err
    with pytest.raises(SystemExit) as exit:
        main(["provision", "--subscription", "not-a-subscription", "--function-url", URL])
    assert exit.value.code == 2
    assert KEY not in capsys.readouterr().err


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["provision", "--help"])
    text = capsys.readouterr().out
    for needed in ("Action Group", "Global", "12 characters", "alert-relay-service-health",
                   "alert-relay-vm-resource-health", "Monitoring Contributor", "Contributor", "--dry-run",
                   "create, update (which fields) or unchanged", "--secure-webhook", "Exit 0", "examples:"):
        assert needed in text, needed


# --- the plan on its own ------------------------------------------------------------------------------------


SUB = "0a1b2c3d-1111-2222-3333-444455556666"


def test_the_wanted_rules_are_the_bicep_ones():
    wanted = {r.kind: r for r in resources(Options(URL), SUB)}
    health = wanted[SERVICE_HEALTH].body["properties"]
    assert wanted[SERVICE_HEALTH].name == "alert-relay-service-health"
    assert health["condition"]["allOf"][:2] == [
        {"field": "category", "equals": "ServiceHealth"},
        {"anyOf": [{"field": "properties.incidentType", "equals": t}
                   for t in ("Maintenance", "Incident", "Security", "ActionRequired")]}]
    assert health["condition"]["allOf"][2]["containsAny"] == ["Virtual Machines", "Virtual Machine Scale Sets"]
    vm = wanted[RESOURCE_HEALTH].body["properties"]["condition"]["allOf"]
    assert vm[-1] == {"field": "properties.cause", "equals": "PlatformInitiated"}
    assert {c["equals"] for c in vm[2]["anyOf"]} == {"Available", "Unavailable", "Degraded"}  # no Unknown
    every = {r.kind: r for r in resources(Options(URL, regions=(), services=(), platform_initiated_only=False), SUB)}
    assert len(every[SERVICE_HEALTH].body["properties"]["condition"]["allOf"]) == 2
    assert len(every[RESOURCE_HEALTH].body["properties"]["condition"]["allOf"]) == 3


def test_a_secure_webhook_carries_the_entra_fields():
    secure = SecureWebhook(TENANT_ID, CLIENT_ID, "api://relay")
    (receiver,) = {r.kind: r for r in resources(Options(URL, secure=secure), SUB)}[ACTION_GROUP] \
        .body["properties"]["webhookReceivers"]
    assert receiver == {"name": "relay-ingest", "serviceUri": URL, "useCommonAlertSchema": True, "useAadAuth": True,
                        "tenantId": TENANT_ID, "objectId": CLIENT_ID, "identifierUri": "api://relay"}
    assert problems(Options(URL, secure=SecureWebhook("contoso.com", CLIENT_ID, " "))) == [
        "--tenant-id 'contoso.com': a GUID, like 0a1b2c3d-1111-2222-3333-444455556666",
        "--identifier-uri: the application ID URI of the app registration, like api://relay"]


def test_compare_reads_only_what_the_relay_sets():
    rule = {r.kind: r for r in resources(Options(URL), SUB)}[SERVICE_HEALTH]
    echoed = json.loads(json.dumps(rule.body))
    echoed |= {"id": "/x", "name": rule.name, "location": "global"}
    echoed["properties"]["actions"]["actionGroups"][0] |= {"webhookProperties": {}}
    echoed["properties"]["actions"]["actionGroups"][0]["actionGroupId"] = \
        echoed["properties"]["actions"]["actionGroups"][0]["actionGroupId"].lower()
    assert compare(rule, echoed).action == UNCHANGED
    assert compare(rule, None).action == CREATE
    echoed["properties"]["scopes"] = [f"/subscriptions/{SUB}", f"/subscriptions/{SUB}/resourceGroups/x"]
    echoed["properties"]["enabled"] = False
    change = compare(rule, echoed)
    assert (change.action, change.fields) == (UPDATE, ("enabled", "scopes"))
    assert change.body["id"] == "/x" and change.body["properties"]["scopes"] == [f"/subscriptions/{SUB}"]
    group = {r.kind: r for r in resources(Options(URL), SUB)}[RESOURCE_GROUP]
    assert compare(group, {"location": "westeurope"}).action == UNCHANGED  # a resource group is never changed
    assert differences({"a": [1, 2]}, {"a": [1]}) == ["a"]


def test_a_refusal_names_the_missing_role_and_an_arm_error_is_said_without_the_key():
    from types import SimpleNamespace

    from relay.provision import reason

    options = Options(URL, resource_group="rg-x")
    secure = Options(URL, resource_group="rg-x", secure=SecureWebhook(TENANT_ID, CLIENT_ID, "api://relay"))
    group, action_group, rule = resources(options, SUB)[:3]
    denied = SimpleNamespace(status_code=403)
    assert reason(denied, group, True, True, options) == (
        "denied (403): creating resource group rg-x needs Contributor on the subscription"
        " (or a role with Microsoft.Resources/subscriptions/resourceGroups/write)")
    assert reason(denied, rule, True, False, options) == \
        "denied (403): the identity needs Monitoring Contributor on the subscription"
    assert reason(denied, action_group, True, False, options) == reason(denied, action_group, False, False, secure) \
        == "denied (403): the identity needs Monitoring Contributor on the subscription"  # reading needs no owner
    assert reason(denied, action_group, True, False, secure) == (
        "denied (403): the identity needs Monitoring Contributor on the subscription; for the secure webhook it"
        f" must also be an owner of the Entra app registration (object id {CLIENT_ID})")
    refused = SimpleNamespace(status_code=400, error=SimpleNamespace(code="BadRequest", message=f"bad uri {URL}"))
    said = reason(refused, rule, True, False, options)
    assert said.startswith("refused (HTTP 400 BadRequest): bad uri https://") and KEY not in said
