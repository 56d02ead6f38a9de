"""The config's `teams_actions:` section: who may do what from the Teams bot's cards.

    teams_actions:
      start_maintenance:           # who may start a VM's maintenance from a card; none listed: nobody
        - group: 6f1c…             # an Entra group's object id (members of groups nested in it count too)
          subscriptions: [<id>]    # the VMs it may start: in these subscriptions …
          resource_groups: [rg-web]   # … and/or these resource groups (any subscription unless
                                      # subscriptions is given; both given: those groups of those subscriptions)
      graph_url: https://graph.microsoft.com   # optional: where group membership is asked (a national cloud's Graph)

A rule names a scope: subscriptions, resource groups or both; a group without one may start nothing, so it is
refused here rather than read as "everything". A group may have several rules: it may start what any of them allows.
relay.maintain.allowed decides with these rules; relay.maintain.from_teams asks Microsoft Graph for the groups.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from relay.config.checks import GUID, shown, unknown

PUBLIC_GRAPH = "https://graph.microsoft.com"
# Azure's resource group names: letters and digits (any script), '-', '_', '.', '(' and ')'; up to 90; no final '.'.
RESOURCE_GROUP = re.compile(r"^[\w.()-]{0,89}[\w()-]$")

_KEYS = {"start_maintenance", "graph_url"}
_RULE_KEYS = {"group", "subscriptions", "resource_groups"}


@dataclass(frozen=True)
class StartRule:
    """Members of `group` may start the maintenance of the VMs in this scope (ids and names in lower case)."""

    group: str
    subscriptions: tuple[str, ...] = ()  # (): any subscription
    resource_groups: tuple[str, ...] = ()  # (): any resource group

    def covers(self, subscription_id: str, resource_group: str) -> bool:
        """Whether a VM of this subscription and resource group is in the rule's scope. A rule without either
        list covers nothing (the config refuses one)."""
        if not (self.subscriptions or self.resource_groups):
            return False
        return ((not self.subscriptions or subscription_id.lower() in self.subscriptions)
                and (not self.resource_groups or resource_group.lower() in self.resource_groups))


@dataclass(frozen=True)
class TeamsActions:
    start_maintenance: tuple[StartRule, ...] = ()  # (): nobody may
    graph_url: str = PUBLIC_GRAPH

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups the rules name, each once, in the config's order: the ones to ask Graph about."""
        return tuple(dict.fromkeys(rule.group for rule in self.start_maintenance))


def parse_teams_actions(raw: object, problems: list[str]) -> TeamsActions:
    if raw is None:
        return TeamsActions()
    if not isinstance(raw, dict):
        problems.append("teams_actions: a mapping with start_maintenance (a list of groups and what they may start)")
        return TeamsActions()
    problems += unknown(raw, _KEYS, "teams_actions.")
    graph_url = raw.get("graph_url", PUBLIC_GRAPH)
    if not isinstance(graph_url, str) or not re.fullmatch(r"https://[^\s/?#]+/?", graph_url):
        problems.append(f"teams_actions.graph_url: the https:// address of Microsoft Graph, like {PUBLIC_GRAPH}"
                        f" (got {shown(graph_url)})")
        graph_url = PUBLIC_GRAPH
    rules = raw.get("start_maintenance")
    if rules is None:
        return TeamsActions(graph_url=graph_url.rstrip("/"))
    if not isinstance(rules, list):
        problems.append("teams_actions.start_maintenance: a list of rules, each a mapping with group and"
                        " subscriptions and/or resource_groups")
        return TeamsActions(graph_url=graph_url.rstrip("/"))
    parsed = tuple(rule for i, item in enumerate(rules)
                   if (rule := _rule(item, f"teams_actions.start_maintenance[{i}]", problems)) is not None)
    return TeamsActions(parsed, graph_url.rstrip("/"))


def _rule(item: object, where: str, problems: list[str]) -> StartRule | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: a mapping with group (an Entra group's object id) and subscriptions and/or"
                        f" resource_groups, not {shown(item)}")
        return None
    before = len(problems)
    problems += unknown(item, _RULE_KEYS, f"{where}.")
    group = item.get("group")
    if group is None:
        problems.append(f"{where}.group: missing; give the object id of the Entra group whose members may start"
                        " maintenance")
    elif not isinstance(group, str) or not GUID.match(group.strip()):
        problems.append(f"{where}.group: an Entra group's object id, like 6f1c2d3e-1111-2222-3333-444455556666"
                        f" (the group's name will not do), not {shown(group)}")
    subscriptions = _list(item.get("subscriptions"), f"{where}.subscriptions", problems,
                          lambda s: bool(GUID.match(s)), "subscription ids, like 0a1b2c3d-1111-2222-3333-444455556666")
    groups = _list(item.get("resource_groups"), f"{where}.resource_groups", problems,
                   lambda g: bool(RESOURCE_GROUP.match(g)), "resource group names, like [rg-web]")
    if not subscriptions and not groups and len(problems) == before:
        problems.append(f"{where}: say which VMs the group may start: subscriptions, resource_groups or both")
    if len(problems) > before:
        return None
    return StartRule(str(group).strip().lower(), subscriptions, groups)


def _list(value: object, where: str, problems: list[str], good, example: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and good(v.strip()) for v in items):
        problems.append(f"{where}: a list of {example}")
        return ()
    return tuple(dict.fromkeys(v.strip().lower() for v in items))
