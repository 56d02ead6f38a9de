"""The config's `route:` section: the routing tree, each node checked and every problem said."""
from __future__ import annotations

import re

from relay.config.checks import GUID, LEVELS, SIGNAL_TYPES, STAGES, shown, unknown, words
from relay.model import SEVERITIES, EventKind
from relay.routing import FIELDS, Condition, Route, region_key

_ROUTE_KEYS = {"receiver", "match", "match_re", "continue", "routes"}
_RESOURCE_TYPE = re.compile(r"^[A-Za-z0-9.]+(/[A-Za-z0-9]+)+$")


def parse_tree(raw: object, names: list[str], problems: list[str]) -> Route | None:
    """The `route:` section. Its top route takes everything: its receiver is the default."""
    if isinstance(raw, dict):
        if "receiver" not in raw:
            problems.append("route.receiver: the default receiver, which gets what no route below takes;"
                            f" one of: {', '.join(names)}")
        problems += [f"route.{key}: the top route takes everything; put {key} on the routes under it"
                     for key in ("match", "match_re", "continue") if key in raw]
    return _node(raw, "route", names, problems)


def _node(raw: object, where: str, names: list[str], problems: list[str]) -> Route | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a mapping with receiver, match, match_re, continue and routes")
        return None
    problems += unknown(raw, _ROUTE_KEYS, f"{where}.")
    receiver = raw.get("receiver")
    if receiver is not None and receiver not in names:
        what = f"no receiver is named {shown(receiver)}" if isinstance(receiver, str) else "the name of a receiver"
        problems.append(f"{where}.receiver: {what}; there are: {', '.join(names)}")
    carry_on = raw.get("continue", False)
    if not isinstance(carry_on, bool):
        problems.append(f"{where}.continue: true (the routes after this one are tried too) or false")
    conditions = (_conditions(raw.get("match"), f"{where}.match", False, problems)
                  + _conditions(raw.get("match_re"), f"{where}.match_re", True, problems))
    children = raw.get("routes", [])
    if not isinstance(children, list):
        problems.append(f"{where}.routes: a list of routes")
        children = []
    nodes = tuple(n for i, child in enumerate(children)
                  if (n := _node(child, f"{where}.routes[{i}]", names, problems)) is not None)
    return Route(receiver if isinstance(receiver, str) else None, conditions, nodes, carry_on is True)


def _conditions(raw: object, where: str, regex: bool, problems: list[str]) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: a mapping of field to value; fields: {', '.join(FIELDS)}")
        return ()
    problems += unknown(raw, set(FIELDS), f"{where}.")
    conditions = []
    for name in (f for f in FIELDS if f in raw):
        if name != "tag":
            conditions.append(Condition(name, _patterns(raw[name], f"{where}.{name}", name, regex, problems)))
        elif not isinstance(raw["tag"], dict) or not raw["tag"]:
            problems.append(f"{where}.tag: a mapping of tag name to value, like {{owner: web-team}}")
        else:
            conditions += [Condition("tag", _patterns(value, f"{where}.tag.{tag}", name, regex, problems), str(tag).lower())
                           for tag, value in raw["tag"].items()]
    return tuple(conditions)


def _patterns(value: object, where: str, name: str, regex: bool, problems: list[str]) -> tuple[re.Pattern, ...]:
    """Patterns matched whole and in any case: the text itself, or (match_re) a regular expression."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        problems.append(f"{where}: a text or a list of texts (quote numbers, true and false: \"1\")")
        return ()
    if regex:
        patterns = []
        for text in values:
            try:
                patterns.append(re.compile(text, re.IGNORECASE))
            except re.error as e:
                problems.append(f"{where}: {text!r} is not a regular expression ({e.msg} at position {e.pos});"
                                " write \\ before a character meant literally, or use match: for plain text")
        return tuple(patterns)
    known = {"kind": tuple(k.value for k in EventKind), "stage": STAGES, "level": LEVELS, "severity": SEVERITIES,
             "signal_type": SIGNAL_TYPES}.get(name)
    if known:
        values = list(words(values, known, where, problems))
    if name == "subscription" and not all(GUID.match(v) for v in values):
        problems.append(f"{where}: subscription ids, like 0a1b2c3d-1111-2222-3333-444455556666")
    if name == "resource_type" and not all(_RESOURCE_TYPE.match(v) for v in values):
        problems.append(f"{where}: resource types, a namespace and a type, like Microsoft.Network/expressRouteCircuits")
    return tuple(re.compile(re.escape(region_key(v) if name == "region" else v), re.IGNORECASE) for v in values)
