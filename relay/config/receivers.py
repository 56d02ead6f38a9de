"""The config's `receivers:`: each receiver's channel, destination (the NAME of the environment variable
that holds it), language, kinds, stages and channel options, checked."""
from __future__ import annotations

from relay.config.checks import ENV_NAME, NAME, STAGES, unknown, words
from relay.model import EventKind, Receiver
from relay.routing import ReceiverFilter

CHANNELS = ("teams", "slack", "email")
LANGUAGES = ("ja", "en", "both")

_COMMON_KEYS = {"name", "channel", "language", "kinds", "stages", "max_per_second"}
# What each channel (and, for email, each way of sending) reads besides the common keys.
_KEYS = {
    "outbox": {"format", "to", "from"},
    "teams": {"destination", "auth", "audience"},
    "slack": {"destination", "token", "slack_channel", "api_url"},
    "email": {"via", "destination", "to", "from", "sender", "graph_url", "authority"},
}
_VIAS = ("smtp", "graph", "acs")


def parse_receiver(item: object, where: str, problems: list[str]) -> ReceiverFilter | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping with name and channel")
        return None
    before = len(problems)
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"{where}.name: required; letters, digits, '.', '_' or '-' (up to 64)")
    channel = item.get("channel")
    if channel not in _KEYS:
        problems.append(f"{where}.channel: must be one of teams, slack, email, outbox (got {channel!r})")
        return None
    problems += unknown(item, _COMMON_KEYS | _KEYS[channel], f"{where}.", f" for channel {channel}")
    language = item.get("language", "both")
    if language not in LANGUAGES:
        problems.append(f"{where}.language: must be ja, en or both (got {language!r})")
    message_format, transport = _format_and_transport(item, channel, where, problems)
    kinds = _kinds(item.get("kinds"), where, problems)
    stages = words(item.get("stages"), STAGES, f"{where}.stages", problems)
    options = _options(item, where, problems)
    if len(problems) > before or not isinstance(name, str):
        return None
    receiver = Receiver(
        name=name, channel=message_format, language=language, transport=transport,
        destination_env=item.get("destination") or item.get("token"), options=options,
    )
    return ReceiverFilter(receiver, kinds, frozenset(s.lower() for s in stages))


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
    elif not isinstance(value, str) or not ENV_NAME.match(value):
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
