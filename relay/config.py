"""The relay's YAML config: where things live and who receives what. Secrets never sit in the file.

    outbox: outbox                 # folder of the outbox channel
    inventory: inventory.json      # offline VM inventory (embedded enrichment)
    ledger: .relay/ledger.sqlite   # what was seen and delivered
    receivers:
      - name: oncall-teams
        channel: outbox            # teams | slack | email | outbox
        format: teams              # outbox only: which message to write
        language: both             # ja | en | both (Japanese first)
        kinds: [maintenance]       # optional: only these event kinds
      - name: managers
        channel: email
        destination: RELAY_SMTP_URL   # name of the environment variable holding the address
        to: [managers@example.com]
    operations: [oncall-teams]     # who hears about the relay's own trouble (alerts it gave up on);
                                   # default: every receiver
    azure:                         # optional: find the affected VMs in Azure (instead of an inventory)
      subscriptions: [<id>, ...]   # searched besides the alert's own
      tenant_wide: false           # true: every subscription the identity can read
      time_budget_seconds: 20      # enrichment gives up after this, and says what it could not see
      arm_url: https://management.azure.com
      authority: https://login.microsoftonline.com
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .model import EventKind, Receiver

CHANNELS = ("teams", "slack", "email")
LANGUAGES = ("ja", "en", "both")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
PUBLIC_ARM = "https://management.azure.com"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


class ConfigError(ValueError):
    """The config is unusable; the message names the file and every problem."""


@dataclass(frozen=True)
class Route:
    receiver: Receiver
    kinds: frozenset[EventKind] = frozenset()  # empty: every kind


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
    routes: tuple[Route, ...]
    outbox: Path = Path("outbox")
    inventory: Path | None = None
    ledger: Path = Path(".relay/ledger.sqlite")
    azure: AzureSettings | None = None
    source: str = "built-in defaults"
    operations: tuple[str, ...] = ()  # receiver names; empty: every receiver

    def operations_routes(self) -> tuple[Route, ...]:
        """Where notices about the relay itself go: every kind, to the operations receivers."""
        chosen = [r for r in self.routes if not self.operations or r.receiver.name in self.operations]
        return tuple(Route(r.receiver) for r in chosen)


def default_config(outbox: Path = Path("outbox")) -> Config:
    """No config file: every message format, both languages, written to the outbox."""
    routes = tuple(Route(Receiver(name=channel, channel=channel)) for channel in CHANNELS)
    return Config(routes=routes, outbox=outbox)


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
        raise ConfigError(f"{source}: the top level must be a mapping, not {type(data).__name__}")
    unknown = set(data) - {"outbox", "inventory", "ledger", "receivers", "azure", "operations"}
    problems += [f"{key}: unknown setting" for key in sorted(unknown)]
    raw_receivers = data.get("receivers")
    if raw_receivers is None:
        routes = default_config().routes
    elif not isinstance(raw_receivers, list) or not raw_receivers:
        problems.append("receivers: must be a non-empty list")
        routes = ()
    else:
        routes = tuple(
            route for i, item in enumerate(raw_receivers)
            if (route := _route(item, f"receivers[{i}]", problems)) is not None
        )
        names = [route.receiver.name for route in routes]
        problems += [f"receivers: name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    azure = _azure(data["azure"], problems) if "azure" in data else None
    operations = _operations(data.get("operations"), [route.receiver.name for route in routes], problems)
    if problems:
        raise ConfigError(f"{source}:\n" + "\n".join(f"  {p}" for p in problems))

    def path_of(key: str, default: Path | None) -> Path | None:
        value = data.get(key)
        return base / value if isinstance(value, str) else default

    return Config(
        routes=routes,
        outbox=path_of("outbox", Path("outbox")),
        inventory=path_of("inventory", None),
        ledger=path_of("ledger", Path(".relay/ledger.sqlite")),
        azure=azure,
        source=source,
        operations=operations,
    )


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


_COMMON_KEYS = {"name", "channel", "language", "kinds", "max_per_second"}
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
    problems += [f"{where}.{key}: unknown setting for channel {channel}"
                 for key in sorted(set(item) - _COMMON_KEYS - _KEYS[channel])]
    language = item.get("language", "both")
    if language not in LANGUAGES:
        problems.append(f"{where}.language: must be ja, en or both (got {language!r})")
    message_format, transport = _format_and_transport(item, channel, where, problems)
    kinds = _kinds(item.get("kinds"), where, problems)
    options = _options(item, where, problems)
    if len(problems) > before:
        return None
    receiver = Receiver(
        name=name, channel=message_format, language=language, transport=transport,
        destination_env=item.get("destination") or item.get("token"), options=options,
    )
    return Route(receiver, kinds)


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
