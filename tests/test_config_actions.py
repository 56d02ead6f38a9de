"""The config's `teams_actions:` (relay.config.actions): who may start maintenance from a Teams card. Nobody when
absent; each rule a group and a scope, read in one letter case; every problem said with its place, and by
`relay config check` with its line; no value anywhere crashes it."""
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.cli import main
from relay.cli.config_check import line_of
from relay.config import ConfigError, parse_config
from relay.config.actions import PUBLIC_GRAPH, StartRule, TeamsActions
from tests.properties import examples

RECEIVERS = [{"name": "platform", "channel": "outbox", "format": "teams"}]
OPS = "6F1C2D3E-1111-4222-8333-444455556666"
WEB = "7a2b3c4d-5555-4666-8777-888899990000"
SUB = "0A1B2C3D-1111-2222-3333-444455556666"


def actions(section) -> TeamsActions:
    return parse_config({"receivers": RECEIVERS, "teams_actions": section}).teams_actions


def problems(section) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_config({"receivers": RECEIVERS, "teams_actions": section})
    return list(refused.value.problems)


def test_without_the_section_nobody_may():
    assert parse_config({"receivers": RECEIVERS}).teams_actions == TeamsActions((), PUBLIC_GRAPH)
    assert actions(None) == actions({}) == actions({"start_maintenance": None}) == actions({"start_maintenance": []})
    assert actions({}).groups == ()


def test_rules_as_written_in_one_letter_case():
    read = actions({"start_maintenance": [
        {"group": OPS, "subscriptions": [SUB, SUB.lower()]},
        {"group": f" {WEB} ", "resource_groups": ["RG-Web", "rg-db(old)", "rg.2"]},
        {"group": OPS, "subscriptions": [SUB], "resource_groups": "rg-batch"},
    ], "graph_url": "https://graph.microsoft.us/"})
    assert read.start_maintenance == (
        StartRule(OPS.lower(), (SUB.lower(),)),
        StartRule(WEB, (), ("rg-web", "rg-db(old)", "rg.2")),
        StartRule(OPS.lower(), (SUB.lower(),), ("rg-batch",)),
    )
    assert read.groups == (OPS.lower(), WEB)  # each group once, to ask Graph about
    assert read.graph_url == "https://graph.microsoft.us"


def test_a_rule_covers_its_subscriptions_its_resource_groups_in_any_subscription_or_both():
    other = "0b1b2c3d-1111-2222-3333-444455556666"
    by_subscription = StartRule(OPS, (SUB.lower(),))
    by_group = StartRule(OPS, (), ("rg-web",))
    both = StartRule(OPS, (SUB.lower(),), ("rg-web",))
    assert by_subscription.covers(SUB, "anything") and not by_subscription.covers(other, "rg-web")
    assert by_group.covers(other, "RG-WEB") and not by_group.covers(SUB, "rg-db")
    assert both.covers(SUB, "rg-web") and not both.covers(other, "rg-web") and not both.covers(SUB, "rg-db")
    assert not StartRule(OPS).covers(SUB, "rg-web")  # no scope: nothing (the config refuses one)


@pytest.mark.parametrize(("section", "expected"), [
    ("everyone", "teams_actions: a mapping with start_maintenance"),
    ({"start_maintenance": {"group": OPS}}, "teams_actions.start_maintenance: a list of rules"),
    ({"start_maintenence": []}, "teams_actions.start_maintenence: unknown setting; did you mean start_maintenance?"),
    ({"start_maintenance": ["ops"]}, "teams_actions.start_maintenance[0]: a mapping with group"),
    ({"start_maintenance": [{"subscriptions": [SUB]}]}, "teams_actions.start_maintenance[0].group: missing"),
    ({"start_maintenance": [{"group": "platform-ops", "subscriptions": [SUB]}]},
     "teams_actions.start_maintenance[0].group: an Entra group's object id"),
    ({"start_maintenance": [{"group": OPS, "subscription": [SUB]}]},
     "teams_actions.start_maintenance[0].subscription: unknown setting; did you mean subscriptions?"),
    ({"start_maintenance": [{"group": OPS, "subscriptions": ["prod"]}]},
     "teams_actions.start_maintenance[0].subscriptions: a list of subscription ids"),
    ({"start_maintenance": [{"group": OPS, "resource_groups": ["rg web"]}]},
     "teams_actions.start_maintenance[0].resource_groups: a list of resource group names"),
    ({"start_maintenance": [{"group": OPS, "resource_groups": ["rg."]}]},
     "teams_actions.start_maintenance[0].resource_groups: a list of resource group names"),
    ({"start_maintenance": [{"group": OPS}]},
     "teams_actions.start_maintenance[0]: say which VMs the group may start: subscriptions, resource_groups or both"),
    ({"start_maintenance": [{"group": OPS, "subscriptions": [], "resource_groups": []}]},
     "teams_actions.start_maintenance[0]: say which VMs the group may start"),
    ({"graph_url": "http://graph.example"}, "teams_actions.graph_url: the https:// address of Microsoft Graph"),
])
def test_each_problem_is_said_with_its_place(section, expected):
    found = problems(section)
    assert any(p.startswith(expected) for p in found), found


def test_config_check_names_the_line_of_each_problem(tmp_path, capsys):
    path = tmp_path / "relay.yaml"
    path.write_text(
        "receivers:\n"
        "  - {name: platform, channel: outbox, format: teams}\n"
        "teams_actions:\n"
        "  start_maintenance:\n"
        f"    - group: {OPS}\n"
        f"      subscriptions: [{SUB}]\n"
        "    - group: platform-ops\n"
        "      resource_groups: [rg-web]\n"
        f"    - group: {WEB}\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:7: teams_actions.start_maintenance[1].group: an Entra group's object id, like"
        " 6f1c2d3e-1111-2222-3333-444455556666 (the group's name will not do), not 'platform-ops'",
        f"{path}:9: teams_actions.start_maintenance[2]: say which VMs the group may start: subscriptions,"
        " resource_groups or both",
        f"{path}: 2 problem(s)"]
    good = path.read_text(encoding="utf-8").replace("platform-ops", WEB) + "      resource_groups: [rg-db]\n"
    path.write_text(good, encoding="utf-8")
    assert main(["config", "check", str(path)]) == 0, capsys.readouterr().out


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from([OPS, SUB])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(SCALARS.filter(lambda v: v == v), inner, max_size=3), max_leaves=8)
PLACES = [(), ("teams_actions",), ("teams_actions", "graph_url"), ("teams_actions", "start_maintenance"),
          ("teams_actions", "start_maintenance", 0), ("teams_actions", "start_maintenance", 0, "group"),
          ("teams_actions", "start_maintenance", 0, "subscriptions"),
          ("teams_actions", "start_maintenance", 0, "resource_groups")]


def put(value, where):
    data = {"receivers": RECEIVERS, "teams_actions": {"graph_url": PUBLIC_GRAPH, "start_maintenance": [
        {"group": OPS, "subscriptions": [SUB], "resource_groups": ["rg-web"]}]}}
    node = data
    for key in where[:-1]:
        node = node[key]
    if where:
        node[where[-1]] = value
    else:
        data["teams_actions"] = value
    return data


@settings(max_examples=examples(100))
@given(value=VALUES, where=st.sampled_from(PLACES))
def test_no_value_anywhere_in_the_section_crashes_it_and_each_problem_has_a_line(value, where):
    data = put(value, where)
    try:
        parse_config(data)
        found: list[str] = []
    except ConfigError as e:
        found = list(e.problems)
    root = yaml.compose(yaml.safe_dump(data, sort_keys=False))
    assert all(line_of(root, problem.split(":", 1)[0]) >= 1 for problem in found)

