"""Routing Azure Monitor alerts: by severity, monitoring service, signal type, alert rule, and their resources'
subscription, resource group and type; in the routing tree, `relay route` and `relay config check`."""
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.cli import main
from relay.config import ConfigError, load_config, parse_config
from relay.enrich import NoInventory, enrich
from relay.model import Notification
from relay.routing import split
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "relay.yaml"
PAYLOADS = ROOT / "tests" / "payloads" / "common"
NOW = datetime(2027, 1, 14, 4, tzinfo=UTC)
SQL = f"/subscriptions/{f.SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-01/databases/orders"
WEB_VM = f"/subscriptions/{f.SUB}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachines/vm-web-01"


def receivers(event, routes) -> list[str]:
    return [r.name for r, _ in split(Notification(enrich(event, NoInventory(), NOW)), routes)]


def alert(**fields):
    return f.alert_event(f.metric_alert(**fields))


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, ["platform"]),  # the ExpressRoute circuit in rg-network: the platform channel only
    ({"targets": (WEB_VM,), "target_group": None, "target_type": None}, ["platform", "web-team"]),
    ({"targets": (WEB_VM,), "target_group": None, "target_type": None, "severity": "Sev0"}, ["platform", "web-team"]),
    ({"targets": (WEB_VM,), "target_group": None, "target_type": None, "severity": "Sev2"}, ["platform"]),
    ({"targets": (SQL,), "target_group": None, "target_type": None, "severity": "Sev4"}, ["platform", "db-team"]),
    ({"targets": (SQL.lower(),), "target_group": None, "target_type": None}, ["platform", "db-team"]),  # any case
])
def test_the_example_routes_alerts_by_severity_resource_group_and_resource_type(fields, expected):
    assert receivers(alert(**fields), load_config(EXAMPLE_CONFIG).routes) == expected


def tree(match: dict, match_re: dict | None = None):
    route = {"receiver": "team", "match": match, **({"match_re": match_re} if match_re else {})}
    return parse_config({"receivers": [{"name": "all", "channel": "outbox", "format": "teams"},
                                       {"name": "team", "channel": "outbox", "format": "slack"}],
                         "route": {"receiver": "all", "routes": [route]}}).routes


@pytest.mark.parametrize(("match", "takes"), [
    ({"severity": ["Sev0", "Sev1"]}, True),
    ({"severity": "sev2"}, False),
    ({"monitoring_service": "platform"}, True),
    ({"monitoring_service": "Log Alerts V2"}, False),
    ({"signal_type": "Metric"}, True),
    ({"signal_type": "Log"}, False),
    ({"alert_rule": "ER-TOKYO-BITS-IN-LOW"}, True),
    ({"resource_type": "Microsoft.Network/expressRouteCircuits"}, True),
    ({"resource_group": "rg-network", "subscription": f.SUB}, True),
    ({"kind": "alert", "stage": "Fired"}, True),
    ({"stage": "Resolved"}, False),
])
def test_each_alert_field_routes(match, takes):
    assert receivers(alert(), tree(match)) == (["team"] if takes else ["all"])


def test_a_rule_can_be_matched_by_a_regular_expression():
    assert receivers(alert(), tree({"kind": "alert"}, {"alert_rule": "er-.*"})) == ["team"]
    assert receivers(alert(), tree({"kind": "alert"}, {"alert_rule": "db-.*"})) == ["all"]


def test_alert_fields_never_take_maintenance_and_vm_fields_take_alerts_by_their_resources():
    maintenance = f.planned()
    routes = tree({"severity": ["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]})
    assert {r.name for r, _ in split(maintenance, routes)} == {"all"}
    # a VM is of the type Microsoft.Compute/virtualMachines, which a route may name for maintenance too
    vms = tree({"resource_type": "Microsoft.Compute/virtualMachines"})
    assert {r.name for r, _ in split(maintenance, vms)} == {"team"}


def test_a_receiver_may_want_only_alerts_and_only_fired_ones():
    routes = parse_config({"receivers": [
        {"name": "alerts", "channel": "outbox", "format": "slack", "kinds": ["alert"], "stages": ["Fired"]},
        {"name": "maintenance", "channel": "outbox", "format": "teams", "kinds": ["maintenance"]},
    ]}).routes
    assert receivers(alert(), routes) == ["alerts"]
    assert receivers(alert(monitor_condition="Resolved"), routes) == []


def test_every_documented_sample_goes_somewhere():
    routes = load_config(EXAMPLE_CONFIG).routes
    for path in PAYLOADS.glob("*.json"):
        assert receivers(parse_alert(path.read_bytes()), routes), path.name


# --------------------------------------------------------------------------------------------------------------
# relay config check, relay route


@pytest.mark.parametrize(("match", "problem"), [
    ({"severity": "Sev5"}, "route.routes[0].match.severity: 'Sev5' is unknown; did you mean Sev4?"),
    ({"severity": "critical"}, "route.routes[0].match.severity: 'critical' is unknown; write one of: Sev0, Sev1, Sev2,"
                               " Sev3, Sev4"),
    ({"signal_type": "Metrics"}, "route.routes[0].match.signal_type: 'Metrics' is unknown; did you mean Metric?"),
    ({"resource_type": "virtualMachines"}, "route.routes[0].match.resource_type: resource types, a namespace and a"
                                           " type, like Microsoft.Network/expressRouteCircuits"),
    ({"alert_rule": 5}, "route.routes[0].match.alert_rule: a text or a list of texts"),
    ({"severty": "Sev1"}, "route.routes[0].match.severty: unknown setting; did you mean severity?"),
])
def test_config_check_says_what_to_write_for_the_alert_fields(match, problem):
    with pytest.raises(ConfigError) as error:
        tree(match)
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


def test_config_check_passes_the_example_and_names_the_line(tmp_path, capsys):
    assert main(["config", "check", str(EXAMPLE_CONFIG)]) == 0
    bad = tmp_path / "relay.yaml"
    bad.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("severity: [Sev0, Sev1]", "severity: [Sev0, Sev9]"),
                   encoding="utf-8")
    (tmp_path / "inventory.json").write_text((ROOT / "examples" / "inventory.json").read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["config", "check", str(bad)]) == 2
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "severity" in line]
    number = bad.read_text(encoding="utf-8").splitlines().index("        severity: [Sev0, Sev9]") + 1
    assert line.startswith(f"{bad}:{number}: route.routes[4].match.severity: 'Sev9' is unknown")


def test_relay_route_shows_an_alert_and_who_gets_it(tmp_path, capsys):
    body = json.loads((ROOT / "examples" / "alerts" / "08-metric-fired.json").read_text(encoding="utf-8"))
    body["data"]["essentials"]["alertTargetIDs"] = [WEB_VM]
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    assert main(["route", str(path), "--config", str(EXAMPLE_CONFIG)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{path}: alert Fired Sev1 er-bits-in-low (Platform · Metric · Microsoft.Compute/virtualMachines"
                        " in rg-web-prod)")
    assert [line.split()[0] for line in lines[1:]] == ["platform", "web-team", "db-team", "managers"]
    assert "web-team  slack via outbox, en: the event" in lines[2]
    assert main(["route", str(path), "--config", str(EXAMPLE_CONFIG), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["alert"]["severity"] == "Sev1"
    assert [r["gets"] for r in plan["receivers"]] == ["all", "all", "nothing", "nothing"]


def test_a_resolved_alert_goes_where_its_fired_went():
    routes = load_config(EXAMPLE_CONFIG).routes
    fired = alert(targets=(WEB_VM,), target_group=None, target_type=None)
    resolved = replace(fired, stage="Resolved", alert=replace(fired.alert, monitor_condition="Resolved"))
    assert receivers(fired, routes) == receivers(resolved, routes) == ["platform", "web-team"]
