"""Routing tables over the config files in tests/routing/: which receiver gets which VMs of an event."""
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.config import ConfigError, load_config, parse_config
from relay.enrich import enrich
from relay.enrich.inventory import Inventory
from relay.model import Notification
from relay.routing import split, wanted

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
NOW = datetime(2027, 1, 12, tzinfo=UTC)
WEB = {"vm-web-01", "vm-web-02", "vm-web-03", "vm-web-04", "vm-web-05", "vm-web-11"}
DB = {"vm-db-01", "vm-db-02", "vm-db-03", "vm-db-04", "vm-db-05", "vm-db-11"}
ALL = "all"  # the whole notification, every VM


def table(config_name: str, alert: str) -> dict[str, object]:
    """receiver name → ALL, or the set of VM names its message lists."""
    config = load_config(HERE / "routing" / config_name)
    event = parse_alert(next((EXAMPLES / "alerts").glob(f"{alert}*.json")).read_bytes())
    notification = Notification(enrich(event, Inventory.load(config.inventory), NOW))
    result = {}
    for receiver, part in split(notification, config.routes):
        if part is notification:
            result[receiver.name] = ALL
        else:
            assert part.affected == len(notification.enriched.vms)
            result[receiver.name] = {a.vm.name for a in part.enriched.vms}
    return result


@pytest.mark.parametrize("config_name, alert, expected", [
    # a platform channel with everything, teams with their own VMs only, managers on Planned/Rescheduled
    ("teams.yaml", "01", {"platform": ALL, "managers": ALL, "web-team": WEB, "db-team": DB}),
    ("teams.yaml", "03", {"platform": ALL, "managers": ALL, "web-team": WEB, "db-team": DB}),
    ("teams.yaml", "04", {"platform": ALL, "web-team": WEB, "db-team": DB}),
    ("teams.yaml", "05", {"platform": ALL, "web-team": WEB, "db-team": DB}),
    ("teams.yaml", "06", {"platform": ALL}),  # an incident names no VM: no team route matches it
    ("teams.yaml", "07", {"platform": ALL, "web-team": ALL}),  # Resource Health of vm-web-02
    # first match wins, continue, nested routes, the default route for VMs nobody takes
    ("default-route.yaml", "01", {
        "leftovers": {"vm-batch-01", "vm-batch-02", "vm-batch-03", "vm-batch-04", "vm-batch-05", "vm-ops-01"},
        "web-team": WEB,
        "prod-web": {"vm-web-01", "vm-web-02", "vm-web-03", "vm-web-04", "vm-web-11"},
        "second-sub": DB | {"vm-web-11"},  # its own subscription, and continue; then prod VMs in rg-db
    }),
    ("default-route.yaml", "06", {"japan-incidents": ALL}),
    ("default-route.yaml", "07", {"web-team": ALL, "prod-web": ALL}),
    # no route: every receiver gets what its kinds allow, as before
    ("flat.yaml", "01", {"oncall": ALL, "everything": ALL}),
    ("flat.yaml", "06", {"incidents": ALL, "everything": ALL}),
    ("flat.yaml", "07", {"oncall": ALL, "everything": ALL}),
    # the documented example
    ("../../examples/relay.yaml", "01", {"platform": ALL, "managers": ALL, "web-team": WEB, "db-team": DB}),
    ("../../examples/relay.yaml", "04", {"platform": ALL, "web-team": WEB, "db-team": DB}),
])
def test_routing_table(config_name, alert, expected):
    assert table(config_name, alert) == expected


def test_receivers_are_admitted_by_what_they_want_before_the_vms_are_known():
    config = load_config(HERE / "routing" / "teams.yaml")
    inprogress = parse_alert((EXAMPLES / "alerts" / "04-inprogress.json").read_bytes())
    assert [r.name for r in wanted(inprogress, config.routes)] == ["platform", "web-team", "db-team", "data-team"]


def test_tags_regions_and_texts_match_in_any_case_and_regions_without_spaces():
    config = parse_config({
        "inventory": "inventory.json",
        "receivers": [{"name": "a", "channel": "outbox", "format": "teams"},
                      {"name": "b", "channel": "outbox", "format": "slack"}],
        "route": {"receiver": "a", "routes": [
            {"receiver": "b", "match": {"region": "japan east", "tag": {"OWNER": "WEB-TEAM"}, "service": "virtual machines"}},
        ]},
    }, base=EXAMPLES)
    event = parse_alert((EXAMPLES / "alerts" / "01-planned.json").read_bytes())
    notification = Notification(enrich(event, Inventory.load(config.inventory), NOW))
    shares = dict((r.name, p) for r, p in split(notification, config.routes))
    japan_east_web = {a.vm.name for a in notification.enriched.vms
                      if a.vm.tags.get("owner") == "web-team" and a.vm.location == "japaneast"}
    assert japan_east_web and {a.vm.name for a in shares["b"].enriched.vms} == japan_east_web


@pytest.mark.parametrize("route, expected", [
    ({"routes": []}, "route.receiver: the default receiver"),
    ({"receiver": "a", "match": {"kind": "incident"}}, "route.match: the top route takes everything"),
    ({"receiver": "a", "routes": [{"receiver": "zz"}]}, "route.routes[0].receiver: no receiver is named 'zz'"),
    ({"receiver": "a", "routes": [{"match": {"stage": "Plannd"}}]},
     "route.routes[0].match.stage: 'Plannd' is unknown; did you mean Planned?"),
    ({"receiver": "a", "routes": [{"match": {"kind": "outage"}}]}, "route.routes[0].match.kind: 'outage' is unknown"),
    ({"receiver": "a", "routes": [{"match": {"subscription": "prod"}}]}, "match.subscription: subscription ids"),
    ({"receiver": "a", "routes": [{"match": {"owner": "x"}}]}, "route.routes[0].match.owner: unknown setting"),
    ({"receiver": "a", "routes": [{"match": {"tag": "owner"}}]}, "match.tag: a mapping of tag name to value"),
    ({"receiver": "a", "routes": [{"match": {"tag": {"env": 1}}}]}, "match.tag.env: a text or a list of texts"),
    ({"receiver": "a", "routes": [{"match_re": {"resource_group": "rg-[a"}}]},
     "route.routes[0].match_re.resource_group: 'rg-[a' is not a regular expression"),
    ({"receiver": "a", "routes": [{"continu": True}]}, "route.routes[0].continu: unknown setting; did you mean continue?"),
    ({"receiver": "a", "routes": {"receiver": "a"}}, "route.routes: a list of routes"),
])
def test_bad_routes_are_named(route, expected):
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{"name": "a", "channel": "outbox", "format": "teams"}], "route": route})
    assert expected in str(info.value)
    assert any(expected.split(":")[0] in p.split(":")[0] for p in info.value.problems)
