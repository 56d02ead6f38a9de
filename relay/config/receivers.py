"""The config's `receivers:`: each receiver's channel, destination (the NAME of the environment variable
that holds it), language, kinds, stages, channel options, its calendar entries and, for email, who reads it
(`audience`) and the VM tags a manager's messages read, and its quiet hours, checked.

A Teams receiver sends through a Workflows webhook (`via: webhook`, the default: `destination`), or as a bot in a
channel (`via: bot`, transport teams-bot: `app_id`, `tenant_id`, `team_channel`, `service_url`, and `secret`, the
variable holding its app registration's client secret, or none for the managed identity that is the bot). An outbox
receiver of format teams may stand in for the bot (`via: bot`, transport outbox-bot): the bot's cards, written as its
threads (relay.channels.outbox_thread)."""
from __future__ import annotations

import re

from relay.config.checks import ENV_NAME, GUID, NAME, STAGES, shown, unknown, words
from relay.config.followup import parse_quiet_hours
from relay.model import CALENDAR_ENTRIES, EventKind, ManagerTags, Receiver
from relay.routing import ReceiverFilter

CHANNELS = ("teams", "slack", "email")
LANGUAGES = ("ja", "en", "both")
AUDIENCES = ("oncall", "managers")

_COMMON_KEYS = {"name", "channel", "language", "kinds", "stages", "max_per_second", "calendar", "quiet_hours"}
# Who reads an email, and which VM tags the managers' wording reads: email only (channel email, or outbox
# with format email). A Teams receiver's `audience` is another thing: the Entra token's, with auth: entra.
_MANAGER_KEYS = ("audience", "environment_tag", "production_values", "owner_tag")
# What each channel (and, for email, each way of sending) reads besides the common keys.
_KEYS = {
    "outbox": {"format", "via", "to", "from", *_MANAGER_KEYS},
    "teams": {"destination", "auth", "audience", "via", "app_id", "tenant_id", "team_channel", "service_url", "secret",
              "authority"},
    "slack": {"destination", "token", "slack_channel", "api_url", "lookup_per_second"},
    "email": {"via", "destination", "to", "from", "sender", "graph_url", "authority", "lookup_per_second",
              *_MANAGER_KEYS},
}
_VIAS = ("smtp", "graph", "acs")
_TEAMS_VIAS = ("webhook", "bot")
_BOT_KEYS = ("app_id", "tenant_id", "team_channel", "service_url", "secret", "authority")
_WEBHOOK_KEYS = ("destination", "auth")
# A channel's id as Teams gives it (19:…@thread.tacv2; older channels …@thread.skype), URL-decoded; no '|', which
# the ledger's reference of a thread puts after it.
_TEAM_CHANNEL = re.compile(r"19:[^\s/?#|%]+@thread\.(?:tacv2|skype)")
_EMAIL_ONLY = ("for email receivers only (channel email, or channel outbox with format email): the managers' wording"
               " is an email")


def parse_receiver(item: object, where: str, problems: list[str]) -> ReceiverFilter | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping with name and channel")
        return None
    before = len(problems)
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"{where}.name: required; letters, digits, '.', '_' or '-' (up to 64)")
    channel = item.get("channel")
    if not isinstance(channel, str) or channel not in _KEYS:
        problems.append(f"{where}.channel: must be one of teams, slack, email, outbox (got {shown(channel)})")
        return None
    problems += unknown(item, _COMMON_KEYS | _KEYS[channel] | set(_MANAGER_KEYS), f"{where}.",
                        f" for channel {channel}")
    language = item.get("language", "both")
    if language not in LANGUAGES:
        problems.append(f"{where}.language: must be ja, en or both (got {shown(language)})")
    message_format, transport = _format_and_transport(item, channel, where, problems)
    audience, tags = _readers(item, message_format, transport, where, problems)
    kinds = _kinds(item.get("kinds"), where, problems)
    stages = words(item.get("stages"), STAGES, f"{where}.stages", problems)
    options = _options(item, transport, where, problems)
    calendar = _calendar(item.get("calendar", True), where, problems)
    quiet_hours = parse_quiet_hours(item.get("quiet_hours", []), f"{where}.quiet_hours", problems)
    if len(problems) > before or not isinstance(name, str):
        return None
    receiver = Receiver(
        name=name, channel=message_format, language=language, transport=transport,
        destination_env=item.get("destination") or item.get("token") or item.get("secret"), options=options,
        audience=audience, tags=tags,
        calendar=calendar, quiet_hours=quiet_hours,
    )
    return ReceiverFilter(receiver, kinds, frozenset(s.lower() for s in stages))


def _format_and_transport(item: dict, channel: str, where: str, problems: list[str]) -> tuple[str, str]:
    """(message format, transport): what to render, and which channel adapter sends it."""
    if channel == "outbox":
        fmt = item.get("format")
        if fmt not in CHANNELS:
            problems.append(f"{where}.format: an outbox receiver says which message to write: teams, slack or email")
        if "via" not in item:
            return str(fmt), "outbox"
        if item["via"] != "bot":
            problems.append(f"{where}.via: an outbox receiver writes a file a message (leave via out), or with via:"
                            f" bot stands in for a Teams bot: its threads, a folder an event (got {shown(item['via'])})")
        elif fmt in CHANNELS and fmt != "teams":
            problems.append(f"{where}.via: bot stands in for a Teams bot, so its format must be teams"
                            f" (got {shown(fmt)})")
        return str(fmt), "outbox-bot"  # relay.render.teams.OUTBOX_BOT_TRANSPORT: the bot's cards
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
            problems.append(f"{where}.via: how to send email: smtp, graph or acs (got {shown(via)})")
        if via == "graph":
            if not isinstance(item.get("sender"), str) or "@" not in item.get("sender", ""):
                problems.append(f"{where}.sender: the mailbox Graph sends as (user principal name)")
        else:
            what = "SMTP server URL (smtp://user:password@host:587)" if via == "smtp" else "ACS connection string"
            _env_name(item, "destination", where, problems, f"the {what}")
        if "to" not in item:
            problems.append(f"{where}.to: who gets the email")
        return channel, str(via)
    if channel == "teams":
        via = item.get("via", "webhook")
        if via not in _TEAMS_VIAS:
            problems.append(f"{where}.via: how a Teams receiver sends: webhook (a Workflows webhook, the default) or"
                            f" bot (a bot in a channel: a thread an event) (got {shown(via)})")
        elif via == "bot":
            _teams_bot(item, where, problems)
            return channel, "teams-bot"
        problems += [f"{where}.{key}: for a Teams bot only (via: bot)" for key in _BOT_KEYS if key in item]
    what = {"teams": "Teams Workflows webhook URL", "slack": "Slack incoming-webhook URL"}[channel]
    _env_name(item, "destination", where, problems, f"the {what}")
    return channel, channel


def _teams_bot(item: dict, where: str, problems: list[str]) -> None:
    """A bot in a Teams channel: which bot, in which tenant, where it posts, and how it gets its token."""
    problems += [f"{where}.{key}: a Teams bot (via: bot) posts as the bot, through no webhook; leave {key} out"
                 for key in _WEBHOOK_KEYS if key in item]
    for key, what in (("app_id", "the bot's Microsoft App ID (its app registration's client id, or its managed"
                                 " identity's)"),
                      ("tenant_id", "the Entra tenant id of the bot and the team")):
        value = item.get(key)
        if not isinstance(value, str) or not GUID.match(value.strip()):
            problems.append(f"{where}.{key}: {what}, a GUID like 00000000-0000-0000-0000-000000000000{_got(value)}")
    channel = item.get("team_channel")
    if not isinstance(channel, str) or not _TEAM_CHANNEL.fullmatch(channel.strip()):
        problems.append(f"{where}.team_channel: the channel's id, like 19:…@thread.tacv2 (in Teams: the channel's"
                        f" ⋯ → Get link to channel; the id is the part after /channel/, URL-decoded){_got(channel)}")
    if "service_url" not in item:
        problems.append(f"{where}.service_url: the Bot Connector's https:// URL for the tenant's region, like"
                        " https://smba.trafficmanager.net/apac/ (the serviceUrl Teams sends the bot)")
    if "secret" in item:
        _env_name(item, "secret", where, problems, "the client secret of the bot's app registration (leave secret"
                  " out when the bot is the Function App's managed identity)")


def _got(value: object) -> str:
    return "" if value is None else f" (got {shown(value)})"


def _env_name(item: dict, key: str, where: str, problems: list[str], holds: str) -> None:
    value = item.get(key)
    if value is None:
        problems.append(f"{where}.{key}: name the environment variable that holds {holds},"
                        " or use channel: outbox to write the messages to files")
    elif not isinstance(value, str) or not ENV_NAME.match(value):
        problems.append(f"{where}.{key}: must be the NAME of an environment variable (like TEAMS_WEBHOOK_URL),"
                        " never the address or secret itself")


def _readers(item: dict, message_format: str, transport: str, where: str,
             problems: list[str]) -> tuple[str, ManagerTags]:
    """Who reads an email receiver's messages (`audience`), and the VM tags its managers' wording reads."""
    if message_format != "email":
        problems += _email_only(item, transport, where)
        return "oncall", ManagerTags()
    audience = item.get("audience", "oncall")
    if audience not in AUDIENCES:
        problems.append(f"{where}.audience: oncall (the default: terse, with a command per VM) or managers"
                        f" (polite, with the week's decisions and no commands) (got {shown(audience)})")
    return (audience if audience in AUDIENCES else "oncall"), _tags(item, where, problems)


def _email_only(item: dict, transport: str, where: str) -> list[str]:
    """The managers' settings a receiver that sends no email was given, each named."""
    entra = "; a teams receiver's audience is the Entra token's, for auth: entra (a URL)" if transport == "teams" else ""
    return [f"{where}.{key}: {_EMAIL_ONLY}{entra if key == 'audience' else ''}" for key in _MANAGER_KEYS
            if key in item and not (key == "audience" and _entra_audience(item, transport))]


def _entra_audience(item: dict, transport: str) -> bool:
    """A Teams receiver's `audience` names the Entra token's audience (auth: entra), not a reader."""
    return transport == "teams" and item.get("audience") not in AUDIENCES


def _tags(item: dict, where: str, problems: list[str]) -> ManagerTags:
    defaults = ManagerTags()
    environment = _tag_name(item, "environment_tag", defaults.environment, where, problems)
    owner = _tag_name(item, "owner_tag", defaults.owner, where, problems)
    production = item.get("production_values", list(defaults.production))
    values = [production] if isinstance(production, str) else production
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        problems.append(f"{where}.production_values: the values of the environment tag that mean production,"
                        " like [prod, production]")
        values = list(defaults.production)
    return ManagerTags(environment, tuple(v.strip() for v in values), owner)


def _tag_name(item: dict, key: str, default: str, where: str, problems: list[str]) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: the name of a VM tag, like {default}")
        return default
    return value.strip()


def _calendar(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    """Its calendar entries: true (every kind), false (none), or which kinds."""
    if isinstance(value, bool):
        return CALENDAR_ENTRIES if value else ()
    if not isinstance(value, str | list):
        problems.append(f"{where}.calendar: true (the default), false, or a list of {', '.join(CALENDAR_ENTRIES)}"
                        f" (got {shown(value)})")
        return ()
    chosen = words(value, CALENDAR_ENTRIES, f"{where}.calendar", problems)
    return tuple(kind for kind in CALENDAR_ENTRIES if kind in chosen)


def _kinds(value: object, where: str, problems: list[str]) -> frozenset[EventKind]:
    if value is None:
        return frozenset()
    allowed = [k.value for k in EventKind]
    if not isinstance(value, list) or any(k not in allowed for k in value):
        problems.append(f"{where}.kinds: a list of {', '.join(allowed)}")
        return frozenset()
    return frozenset(EventKind(k) for k in value)


def _options(item: dict, transport: str, where: str, problems: list[str]) -> dict[str, str]:
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
    for key in ("max_per_second", "lookup_per_second"):
        rate = item.get(key)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
            problems.append(f"{where}.{key}: a number above 0")
    if item.get("auth", "none") not in ("none", "entra"):
        problems.append(f"{where}.auth: none, or entra (a bearer token for flows limited to your tenant)")
    for key in ("api_url", "graph_url", "authority", "service_url"):
        if key in item and not str(item[key]).startswith("https://"):
            problems.append(f"{where}.{key}: an https:// URL")
    plain = ("from", "sender", "slack_channel", "auth", "api_url", "graph_url", "authority", "max_per_second",
             "lookup_per_second", "app_id", "tenant_id", "team_channel", "service_url")
    options.update({key: str(item[key]) for key in plain if key in item})
    if "audience" in item and _entra_audience(item, transport):
        options["audience"] = str(item["audience"])
    return options
