"""The relay's YAML config: where things live and who receives what. Secrets never sit in the file.

    outbox: outbox                 # folder of the outbox channel
    inventory: inventory.json      # offline VM inventory (embedded enrichment)
    ledger: .relay/ledger.sqlite   # what was seen and delivered
    receivers:
      - name: platform
        channel: teams             # teams | slack | email | outbox
        destination: TEAMS_PLATFORM_URL   # name of the environment variable holding the Workflows URL
        language: both             # ja | en | both (Japanese first)
      - name: web-team
        channel: outbox            # outbox: write the messages to files
        format: slack              # outbox only: which message to write
        language: en
      - name: managers
        channel: email
        destination: RELAY_SMTP_URL
        to: [managers@example.com]
        kinds: [maintenance]       # optional: only these event kinds
        stages: [Planned, Rescheduled]   # optional: only these stages
    route:                         # optional; without it every receiver gets everything it wants
      receiver: platform           # the default: gets what no route below takes
      routes:                      # tried in order; the first that matches takes the item
        - receiver: platform
          continue: true           # and the routes after it are tried too
        - receiver: web-team
          match:                   # every field must match; a list means any of its values
            tag: {owner: web-team}
        - receiver: managers
          match_re:                # the same fields, as regular expressions
            resource_group: rg-(web|db)
    operations: [platform]         # who hears about the relay's own trouble (alerts it gave up on);
                                   # default: every receiver
    azure:                         # optional: find the affected VMs in Azure (instead of an inventory)
      subscriptions: [<id>, ...]   # searched besides the alert's own
      tenant_wide: false           # true: every subscription the identity can read
      time_budget_seconds: 20      # enrichment gives up after this, and says what it could not see
      arm_url: https://management.azure.com
      authority: https://login.microsoftonline.com

Match fields: subscription, resource_group, tag, region, service, kind, stage, level; text compares in
any case, regions without spaces (japaneast = Japan East). Each affected VM is routed on its own
subscription, resource group, tags and region, so a receiver gets only the VMs routed to it; an event
with no VM of ours is routed on what the alert says. Examples: examples/relay.yaml.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .digest.settings import DigestSettings, parse_digest
from .model import EventKind, Receiver
from .routing import FIELDS, Condition, Route, RouteNode, Routes, region_key

CHANNELS = ("teams", "slack", "email")
LANGUAGES = ("ja", "en", "both")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
PUBLIC_ARM = "https://management.azure.com"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


class ConfigError(ValueError):
    """The config is unusable; the message names the file and every problem. `problems` holds them one
    by one as "path: problem" (path like receivers[0].name) when they come from the config's content."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class AzureSettings:
    """Where and how long to look for the affected VMs in Azure."""

    subscriptions: tuple[str, ...] = ()  # besides the alert's own
    tenant_wide: bool = False
    time_budget_seconds: float = 20.0
    arm_url: str = PUBLIC_ARM
    authority: str = PUBLIC_AUTHORITY


@dataclass(frozen=True)
class Config:
    routes: Routes
    outbox: Path = Path("outbox")
    inventory: Path | None = None
    ledger: Path = Path(".relay/ledger.sqlite")
    azure: AzureSettings | None = None
    source: str = "built-in defaults"
    operations: tuple[str, ...] = ()  # receiver names; empty: every receiver
    digest: DigestSettings | None = None  # the managers' daily email (relay/digest)

    def receivers(self) -> dict[str, Receiver]:
        """Every receiver, by name."""
        return {route.receiver.name: route.receiver for route in self.routes}

    def operations_routes(self) -> Routes:
        """Where notices about the relay itself go: every kind, to the operations receivers."""
        chosen = [r for r in self.routes if not self.operations or r.receiver.name in self.operations]
        return Routes.flat(tuple(Route(r.receiver) for r in chosen))


def default_config(outbox: Path = Path("outbox")) -> Config:
    """No config file: every message format, both languages, written to the outbox."""
    return Config(routes=Routes.flat(_default_receivers()), outbox=outbox)


def _default_receivers() -> tuple[Route, ...]:
    return tuple(Route(Receiver(name=channel, channel=channel)) for channel in CHANNELS)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(data or {}, source=str(path), base=path.parent)


def parse_config(data: object, source: str = "config", base: Path = Path(".")) -> Config:
    problems: list[str] = []
    if not isinstance(data, dict):
        message = f"the top level must be a mapping, not {type(data).__name__}"
        raise ConfigError(f"{source}: {message}", (message,))
    problems += _unknown(data, _TOP_KEYS, "")
    raw_receivers = data.get("receivers")
    if raw_receivers is None:
        routes = _default_receivers()
    elif not isinstance(raw_receivers, list) or not raw_receivers:
        problems.append("receivers: must be a non-empty list")
        routes = ()
    else:
        routes = tuple(
            route for i, item in enumerate(raw_receivers)
            if (route := _route(item, f"receivers[{i}]", problems)) is not None
        )
        named = [item.get("name") if isinstance(item, dict) else None for item in raw_receivers]
        problems += [f"receivers[{i}].name: the name {n!r} is used twice; give each receiver its own"
                     for i, n in enumerate(named) if n is not None and n in named[:i]]
    # Every name written, so that a receiver with a problem of its own is not also reported as missing.
    names = [route.receiver.name for route in routes] if raw_receivers is None else list(dict.fromkeys(
        item["name"] for item in raw_receivers if isinstance(item, dict) and isinstance(item.get("name"), str)))
    azure = _azure(data["azure"], problems) if "azure" in data else None
    operations = _operations(data.get("operations"), names, problems)
    tree = _tree(data["route"], names, problems) if "route" in data else None
    digest = (parse_digest(data["digest"], {r.receiver.name: r.receiver for r in routes}, problems)
              if "digest" in data else None)
    if problems:
        raise ConfigError(f"{source}:\n" + "\n".join(f"  {p}" for p in problems), tuple(problems))

    def path_of(key: str, default: Path | None) -> Path | None:
        value = data.get(key)
        return base / value if isinstance(value, str) else default

    return Config(
        routes=Routes(routes, tree) if tree else Routes.flat(routes),
        outbox=path_of("outbox", Path("outbox")),
        inventory=path_of("inventory", None),
        ledger=path_of("ledger", Path(".relay/ledger.sqlite")),
        azure=azure,
        source=source,
        operations=operations,
        digest=digest,
    )


_TOP_KEYS = {"outbox", "inventory", "ledger", "receivers", "route", "azure", "operations", "digest"}
_ROUTE_KEYS = {"receiver", "match", "match_re", "continue", "routes"}
STAGES = ("Planned", "Rescheduled", "InProgress", "Complete", "Canceled", "Active", "Resolved", "RCA")
LEVELS = ("Critical", "Error", "Warning", "Informational")


def _unknown(mapping: dict, known: set[str], prefix: str, suffix: str = "") -> list[str]:
    """One problem per unknown key, with the known key it most likely means."""
    problems = []
    for key in sorted(set(mapping) - known, key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else f"write one of: {', '.join(sorted(known))}"
        problems.append(f"{prefix}{key}: unknown setting{suffix}; {hint}")
    return problems


def _words(value: object, allowed: tuple[str, ...], where: str, problems: list[str]) -> tuple[str, ...]:
    """A word or a list of words from `allowed` (any case), spelled as in `allowed`."""
    if value is None:
        return ()
    words = [value] if isinstance(value, str) else value
    canonical = {a.lower(): a for a in allowed}
    if not isinstance(words, list) or not words:
        problems.append(f"{where}: a list of {', '.join(allowed)}")
        return ()
    for word in (w for w in words if str(w).lower() not in canonical):
        close = difflib.get_close_matches(str(word).lower(), canonical, n=1)
        hint = f"did you mean {canonical[close[0]]}?" if close else f"write one of: {', '.join(allowed)}"
        problems.append(f"{where}: {word!r} is unknown; {hint}")
    return tuple(canonical[str(w).lower()] for w in words if str(w).lower() in canonical)


def _tree(raw: object, names: list[str], problems: list[str]) -> RouteNode | None:
    """The `route:` section. Its top route takes everything: its receiver is the default."""
    if isinstance(raw, dict):
        if "receiver" not in raw:
            problems.append("route.receiver: the default receiver, which gets what no route below takes;"
                            f" one of: {', '.join(names)}")
        problems += [f"route.{key}: the top route takes everything; put {key} on the routes under it"
                     for key in ("match", "match_re", "continue") if key in raw]
    return _node(raw, "route", names, problems)


def _node(raw: object, where: str, names: list[str], problems: list[str]) -> RouteNode | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a mapping with receiver, match, match_re, continue and routes")
        return None
    problems += _unknown(raw, _ROUTE_KEYS, f"{where}.")
    receiver = raw.get("receiver")
    if receiver is not None and receiver not in names:
        problems.append(f"{where}.receiver: no receiver is named {receiver!r}; there are: {', '.join(names)}")
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
    return RouteNode(receiver if isinstance(receiver, str) else None, conditions, nodes, carry_on is True)


def _conditions(raw: object, where: str, regex: bool, problems: list[str]) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: a mapping of field to value; fields: {', '.join(FIELDS)}")
        return ()
    problems += _unknown(raw, set(FIELDS), f"{where}.")
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
    known = {"kind": tuple(k.value for k in EventKind), "stage": STAGES, "level": LEVELS}.get(name)
    if known:
        values = list(_words(values, known, where, problems))
    if name == "subscription" and not all(_GUID.match(v) for v in values):
        problems.append(f"{where}: subscription ids, like 0a1b2c3d-1111-2222-3333-444455556666")
    return tuple(re.compile(re.escape(region_key(v) if name == "region" else v), re.IGNORECASE) for v in values)


def _operations(value: object, names: list[str], problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        problems.append("operations: a list of receiver names, like [oncall-teams]")
        return ()
    problems += [f"operations: no receiver is named {n!r}; there are: {', '.join(names)}"
                 for n in value if n not in names]
    return tuple(value)


def _azure(raw: object, problems: list[str]) -> AzureSettings:
    if raw is None:
        return AzureSettings()
    if not isinstance(raw, dict):
        problems.append("azure: must be a mapping (subscriptions, tenant_wide, time_budget_seconds, arm_url, authority)")
        return AzureSettings()
    keys = {"subscriptions", "tenant_wide", "time_budget_seconds", "arm_url", "authority"}
    problems += [f"azure.{key}: unknown setting" for key in sorted(set(raw) - keys)]
    subscriptions = raw.get("subscriptions", [])
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) and _GUID.match(s) for s in subscriptions):
        problems.append("azure.subscriptions: a list of subscription ids (like 0a1b2c3d-1111-2222-3333-444455556666)")
        subscriptions = []
    tenant_wide = raw.get("tenant_wide", False)
    if not isinstance(tenant_wide, bool):
        problems.append("azure.tenant_wide: true or false")
    budget = raw.get("time_budget_seconds", 20)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget <= 600:
        problems.append("azure.time_budget_seconds: seconds above 0 and at most 600, well inside the Functions timeout")
        budget = 20
    urls = {}
    for key, default in (("arm_url", PUBLIC_ARM), ("authority", PUBLIC_AUTHORITY)):
        urls[key] = raw.get(key, default)
        if not isinstance(urls[key], str) or not urls[key].startswith("https://"):
            problems.append(f"azure.{key}: an https:// URL")
    return AzureSettings(
        subscriptions=tuple(s.lower() for s in subscriptions),
        tenant_wide=tenant_wide is True,
        time_budget_seconds=float(budget),
        arm_url=str(urls["arm_url"]).rstrip("/"),
        authority=str(urls["authority"]).rstrip("/"),
    )


_COMMON_KEYS = {"name", "channel", "language", "kinds", "stages", "max_per_second"}
# What each channel (and, for email, each way of sending) reads besides the common keys.
_KEYS = {
    "outbox": {"format", "to", "from"},
    "teams": {"destination", "auth", "audience"},
    "slack": {"destination", "token", "slack_channel", "api_url"},
    "email": {"via", "destination", "to", "from", "sender", "graph_url", "authority"},
}
_VIAS = ("smtp", "graph", "acs")


def _route(item: object, where: str, problems: list[str]) -> Route | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping with name and channel")
        return None
    before = len(problems)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}.name: required; letters, digits, '.', '_' or '-' (up to 64)")
    channel = item.get("channel")
    if channel not in _KEYS:
        problems.append(f"{where}.channel: must be one of teams, slack, email, outbox (got {channel!r})")
        return None
    problems += _unknown(item, _COMMON_KEYS | _KEYS[channel], f"{where}.", f" for channel {channel}")
    language = item.get("language", "both")
    if language not in LANGUAGES:
        problems.append(f"{where}.language: must be ja, en or both (got {language!r})")
    message_format, transport = _format_and_transport(item, channel, where, problems)
    kinds = _kinds(item.get("kinds"), where, problems)
    stages = _words(item.get("stages"), STAGES, f"{where}.stages", problems)
    options = _options(item, where, problems)
    if len(problems) > before:
        return None
    receiver = Receiver(
        name=name, channel=message_format, language=language, transport=transport,
        destination_env=item.get("destination") or item.get("token"), options=options,
    )
    return Route(receiver, kinds, frozenset(s.lower() for s in stages))


def _format_and_transport(item: dict, channel: str, where: str, problems: list[str]) -> tuple[str, str]:
    """(message format, transport): what to render, and which channel adapter sends it."""
    if channel == "outbox":
        fmt = item.get("format")
        if fmt not in CHANNELS:
            problems.append(f"{where}.format: an outbox receiver says which message to write: teams, slack or email")
        return str(fmt), "outbox"
    if channel == "slack" and "token" in item:
        _env_name(item, "token", where, problems, "the Slack bot token (xoxb-…)")
        if not isinstance(item.get("slack_channel"), str):
            problems.append(f"{where}.slack_channel: a bot posts to a channel id, like C0123456789")
        if "destination" in item:
            problems.append(f"{where}: give destination (incoming webhook) or token (bot), not both")
        return channel, "slack-bot"
    if channel == "email":
        via = item.get("via", "smtp")
        if via not in _VIAS:
            problems.append(f"{where}.via: how to send email: smtp, graph or acs (got {via!r})")
        if via == "graph":
            if not isinstance(item.get("sender"), str) or "@" not in item.get("sender", ""):
                problems.append(f"{where}.sender: the mailbox Graph sends as (user principal name)")
        else:
            what = "SMTP server URL (smtp://user:password@host:587)" if via == "smtp" else "ACS connection string"
            _env_name(item, "destination", where, problems, f"the {what}")
        if "to" not in item:
            problems.append(f"{where}.to: who gets the email")
        return channel, str(via)
    what = {"teams": "Teams Workflows webhook URL", "slack": "Slack incoming-webhook URL"}[channel]
    _env_name(item, "destination", where, problems, f"the {what}")
    return channel, channel


def _env_name(item: dict, key: str, where: str, problems: list[str], holds: str) -> None:
    value = item.get(key)
    if value is None:
        problems.append(f"{where}.{key}: name the environment variable that holds {holds},"
                        " or use channel: outbox to write the messages to files")
    elif not isinstance(value, str) or not _ENV_NAME.match(value):
        problems.append(f"{where}.{key}: must be the NAME of an environment variable (like TEAMS_WEBHOOK_URL),"
                        " never the address or secret itself")


def _kinds(value: object, where: str, problems: list[str]) -> frozenset[EventKind]:
    if value is None:
        return frozenset()
    allowed = [k.value for k in EventKind]
    if not isinstance(value, list) or any(k not in allowed for k in value):
        problems.append(f"{where}.kinds: a list of {', '.join(allowed)}")
        return frozenset()
    return frozenset(EventKind(k) for k in value)


def _options(item: dict, where: str, problems: list[str]) -> dict[str, str]:
    """Everything a channel adapter reads besides the destination, as strings."""
    options = {}
    to = item.get("to")
    if to is not None:
        addresses = [to] if isinstance(to, str) else to
        if not isinstance(addresses, list) or not all(isinstance(a, str) and "@" in a for a in addresses):
            problems.append(f"{where}.to: an email address or a list of them")
        else:
            options["to"] = ", ".join(addresses)
    for key in ("from", "sender"):
        if key in item and (not isinstance(item[key], str) or "@" not in item[key]):
            problems.append(f"{where}.{key}: an email address")
    rate = item.get("max_per_second")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
        problems.append(f"{where}.max_per_second: a number above 0")
    if item.get("auth", "none") not in ("none", "entra"):
        problems.append(f"{where}.auth: none, or entra (a bearer token for flows limited to your tenant)")
    for key in ("api_url", "graph_url", "authority"):
        if key in item and not str(item[key]).startswith("https://"):
            problems.append(f"{where}.{key}: an https:// URL")
    plain = ("from", "sender", "slack_channel", "auth", "audience", "api_url", "graph_url", "authority", "max_per_second")
    options.update({key: str(item[key]) for key in plain if key in item})
    return options
