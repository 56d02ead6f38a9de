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
        audience: managers         # email only: oncall (default: a command per VM) | managers (polite, the
                                   # week's decisions, no commands)
        environment_tag: env       # email only, read by the managers' email and the digest: the VM tag that
        production_values: [prod, production]   # names the environment, its values that mean production,
        owner_tag: owner           # and the tag that names the owner (these three are the defaults)
        kinds: [maintenance]       # optional: only these event kinds
        stages: [Planned, Rescheduled]   # optional: only these stages
        quiet_hours:               # optional, JST: non-urgent messages wait until they end, one per event
          - days: [mon, tue, wed, thu, fri]   # or mon-fri; each day on its own
            from: "22:00"
            to: "08:00"            # not after from: 00:00-08:00 and 22:00-24:00; "24:00": midnight
          - days: sat-sun          # no from and to: the whole day
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
    reminders:                     # optional: between Azure's notices (relay remind); the defaults but receivers
      deadline: [3d, 1d, 4h]       # before each self-service deadline: the VMs still in Start now / Retry now
      reboot: [24h, 1h]            # before Azure's reboot window opens: the VMs Azure will reboot
      all_done: true               # one note when a receiver's last VM is done
      receivers: [platform]        # default: every receiver whose audience is oncall; []: none
    urgent:                        # optional: what goes out at once even in quiet hours; the defaults
      reasons: [scheduled_event, emergency_maintenance, emergency_incident, deadline]
      deadline_within: 24h         # deadline: a self-service deadline or Azure's reboot this close
    teams_actions:                 # optional: what the Teams bot's card buttons may do, and for whom
      start_maintenance:           # who may start maintenance from a card; none listed: nobody
        - group: 6f1c…             # an Entra group's object id
          subscriptions: [<id>, ...]   # the VMs it may start: in these subscriptions …
          resource_groups: [rg-web]    # … and/or these resource groups (any subscription unless
                                       # subscriptions is given)

Durations: 30m, 4h, 3d, 1w, a reminder at most 60 days before; `deadline: []` sends no deadline reminders.

Match fields: subscription, resource_group, tag, region, service, kind, stage, level, and for Azure Monitor
alerts severity (Sev0-Sev4), monitoring_service, signal_type, alert_rule, resource_type; text compares in
any case, regions without spaces (japaneast = Japan East). Each affected VM is routed on its own
subscription, resource group, tags and region, so a receiver gets only the VMs routed to it; an event
with no VM of ours is routed on what the alert says. Examples: examples/relay.yaml.

    receivers.py  one receiver: channel, transport, language, what it wants, who reads it (audience)
    routes.py     the routing tree (relay.routing holds what it is parsed into)
    digest.py     the `digest:` section
    followup.py   the `reminders:` and `urgent:` sections, and a receiver's quiet_hours
    azure.py      the `azure:` section
    actions.py    the `teams_actions:` section: who may start maintenance from a Teams card
    document.py   the file itself: UTF-8 YAML, without aliases
    checks.py     the small checks the parsers share, and ConfigError
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relay.config.actions import TeamsActions, parse_teams_actions
from relay.config.azure import PUBLIC_ARM, PUBLIC_AUTHORITY, AzureSettings, parse_azure
from relay.config.checks import ConfigError, shown, unknown
from relay.config.digest import DigestSettings, parse_digest
from relay.config.document import read_document
from relay.config.followup import ReminderSettings, UrgentSettings, parse_reminders, parse_urgent
from relay.config.receivers import CHANNELS, parse_receiver
from relay.config.routes import parse_tree
from relay.model import Receiver
from relay.routing import ReceiverFilter, Routes

__all__ = ["PUBLIC_ARM", "PUBLIC_AUTHORITY", "AzureSettings", "Config", "ConfigError", "default_config", "load_config",
           "parse_config"]

_TOP_KEYS = {"outbox", "inventory", "ledger", "receivers", "route", "azure", "operations", "digest", "reminders",
             "urgent", "teams_actions"}


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
    reminders: ReminderSettings = ReminderSettings()  # before deadlines (relay remind)
    urgent: UrgentSettings = UrgentSettings()  # what quiet hours do not hold back (relay/hold)
    teams_actions: TeamsActions = TeamsActions()  # who may start maintenance from a Teams card

    def receivers(self) -> dict[str, Receiver]:
        """Every receiver, by name."""
        return {r.receiver.name: r.receiver for r in self.routes}

    def operations_routes(self) -> Routes:
        """Where notices about the relay itself go: every kind, to the operations receivers."""
        chosen = [r for r in self.routes if not self.operations or r.receiver.name in self.operations]
        return Routes.flat(tuple(ReceiverFilter(r.receiver) for r in chosen))


def default_config(outbox: Path = Path("outbox")) -> Config:
    """No config file: every message format, both languages, written to the outbox."""
    return Config(routes=Routes.flat(_default_receivers()), outbox=outbox)


def _default_receivers() -> tuple[ReceiverFilter, ...]:
    return tuple(ReceiverFilter(Receiver(name=channel, channel=channel)) for channel in CHANNELS)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    _, data = read_document(path)
    return parse_config({} if data is None else data, source=str(path), base=path.parent)


def parse_config(data: object, source: str = "config", base: Path = Path(".")) -> Config:
    problems: list[str] = []
    if not isinstance(data, dict):
        message = f"the top level must be a mapping of settings (receivers:, route: …), not {shown(data)}"
        raise ConfigError(f"{source}: {message}", (message,))
    problems += unknown(data, _TOP_KEYS, "")
    raw_receivers = data.get("receivers")
    written = raw_receivers if isinstance(raw_receivers, list) else []
    if raw_receivers is None:
        routes = _default_receivers()
    elif not written:
        problems.append("receivers: must be a non-empty list of receivers, each a mapping with name and channel")
        routes = ()
    else:
        routes = tuple(
            route for i, item in enumerate(written)
            if (route := parse_receiver(item, f"receivers[{i}]", problems)) is not None
        )
    named = [item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else None
             for item in written]
    problems += [f"receivers[{i}].name: the name {n!r} is used twice; give each receiver its own"
                 for i, n in enumerate(named) if n is not None and n in named[:i]]
    # Every name written, so that a receiver with a problem of its own is not also reported as missing.
    names = ([r.receiver.name for r in routes] if raw_receivers is None
             else list(dict.fromkeys(n for n in named if n is not None)))
    azure = parse_azure(data["azure"], problems) if "azure" in data else None
    operations = _operations(data.get("operations"), names, problems)
    tree = parse_tree(data["route"], names, problems) if "route" in data else None
    digest = (parse_digest(data["digest"], {r.receiver.name: r.receiver for r in routes}, problems)
              if "digest" in data else None)
    reminders = parse_reminders(data.get("reminders"), names, problems)
    urgent = parse_urgent(data.get("urgent"), problems)
    teams_actions = parse_teams_actions(data.get("teams_actions"), problems)
    if problems:
        raise ConfigError(f"{source}:\n" + "\n".join(f"  {p}" for p in problems), tuple(problems))

    def path_of(key: str) -> Path | None:
        value = data.get(key)
        return base / value if isinstance(value, str) else None

    return Config(
        routes=Routes(routes, tree) if tree else Routes.flat(routes),
        outbox=path_of("outbox") or Path("outbox"),
        inventory=path_of("inventory"),
        ledger=path_of("ledger") or Path(".relay/ledger.sqlite"),
        azure=azure,
        source=source,
        operations=operations,
        digest=digest,
        reminders=reminders,
        urgent=urgent,
        teams_actions=teams_actions,
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
