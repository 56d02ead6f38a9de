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
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model import EventKind, Receiver

CHANNELS = ("teams", "slack", "email")
LANGUAGES = ("ja", "en", "both")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """The config is unusable; the message names the file and every problem."""


@dataclass(frozen=True)
class Route:
    receiver: Receiver
    kinds: frozenset[EventKind] = frozenset()  # empty: every kind


@dataclass(frozen=True)
class Config:
    routes: tuple[Route, ...]
    outbox: Path = Path("outbox")
    inventory: Path | None = None
    ledger: Path = Path(".relay/ledger.sqlite")
    source: str = "built-in defaults"
    problems: tuple[str, ...] = field(default=(), compare=False)


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
    unknown = set(data) - {"outbox", "inventory", "ledger", "receivers"}
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
        source=source,
    )


def _route(item: object, where: str, problems: list[str]) -> Route | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping with name and channel")
        return None
    before = len(problems)
    known = {"name", "channel", "format", "language", "destination", "kinds", "to", "from"}
    problems += [f"{where}.{key}: unknown setting" for key in sorted(set(item) - known)]
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}.name: required; letters, digits, '.', '_' or '-' (up to 64)")
    channel = item.get("channel")
    if channel not in (*CHANNELS, "outbox"):
        problems.append(f"{where}.channel: must be one of teams, slack, email, outbox (got {channel!r})")
    language = item.get("language", "both")
    if language not in LANGUAGES:
        problems.append(f"{where}.language: must be ja, en or both (got {language!r})")
    message_format, transport = _format_and_transport(item, channel, where, problems)
    kinds = _kinds(item.get("kinds"), where, problems)
    options = _email_options(item, where, problems)
    if len(problems) > before:
        return None
    receiver = Receiver(
        name=name, channel=message_format, language=language, transport=transport,
        destination_env=item.get("destination"), options=options,
    )
    return Route(receiver, kinds)


def _format_and_transport(item: dict, channel: object, where: str, problems: list[str]) -> tuple[str, str]:
    if channel == "outbox":
        fmt = item.get("format")
        if fmt not in CHANNELS:
            problems.append(f"{where}.format: an outbox receiver says which message to write: teams, slack or email")
        return str(fmt), "outbox"
    destination = item.get("destination")
    if destination is None:
        problems.append(f"{where}.destination: name the environment variable that holds the {channel} address,"
                        " or use channel: outbox to write the messages to files")
    elif not isinstance(destination, str) or not _ENV_NAME.match(destination):
        problems.append(f"{where}.destination: must be the NAME of an environment variable (like TEAMS_WEBHOOK_URL),"
                        " never the address or secret itself")
    return str(channel), str(channel)


def _kinds(value: object, where: str, problems: list[str]) -> frozenset[EventKind]:
    if value is None:
        return frozenset()
    allowed = [k.value for k in EventKind]
    if not isinstance(value, list) or any(k not in allowed for k in value):
        problems.append(f"{where}.kinds: a list of {', '.join(allowed)}")
        return frozenset()
    return frozenset(EventKind(k) for k in value)


def _email_options(item: dict, where: str, problems: list[str]) -> dict[str, str]:
    options = {}
    to = item.get("to")
    if to is not None:
        addresses = [to] if isinstance(to, str) else to
        if not isinstance(addresses, list) or not all(isinstance(a, str) and "@" in a for a in addresses):
            problems.append(f"{where}.to: an email address or a list of them")
        else:
            options["to"] = ", ".join(addresses)
    sender = item.get("from")
    if sender is not None:
        if not isinstance(sender, str) or "@" not in sender:
            problems.append(f"{where}.from: an email address")
        else:
            options["from"] = sender
    return options
