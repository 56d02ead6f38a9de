"""The digest's settings: the `digest:` section of the YAML config.

    digest:
      receivers:                   # email receivers (or outbox receivers with format: email)
        - managers
        - name: platform-leads
          all_clear: true          # this one also gets a mail on days with nothing to report
      team_tag: owner              # count VMs by this tag; without it, by subscription
      all_clear: false             # the default for every receiver
      horizon_days: 14             # maintenance this far ahead
      deadline_days: 7             # self-service deadlines this close come first
      alerts: false                # true: also count the Azure Monitor alerts of the last 24 hours per team

The week's decisions that head each digest read the VM tags of that receiver's own settings (environment_tag,
production_values, owner_tag: relay.config.receivers), as its event emails do.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from relay.config.checks import unknown
from relay.model import Receiver

_KEYS = {"receivers", "team_tag", "all_clear", "horizon_days", "deadline_days", "alerts"}


@dataclass(frozen=True)
class DigestReceiver:
    name: str
    all_clear: bool = False


@dataclass(frozen=True)
class DigestSettings:
    receivers: tuple[DigestReceiver, ...]
    team_tag: str | None = None
    horizon_days: int = 14
    deadline_days: int = 7
    alerts: bool = False  # count the Azure Monitor alerts of the last 24 hours per team and severity


def parse_digest(raw: object, receivers: Mapping[str, Receiver], problems: list[str]) -> DigestSettings | None:
    """The `digest:` section, checked against the config's receivers; every problem goes to `problems`."""
    if not isinstance(raw, dict):
        problems.append("digest: a mapping with receivers (and team_tag, all_clear, horizon_days, deadline_days, alerts)")
        return None
    before = len(problems)
    problems += unknown(raw, _KEYS, "digest.")
    all_clear = raw.get("all_clear", False)
    if not isinstance(all_clear, bool):
        problems.append("digest.all_clear: true or false")
    chosen = []
    items = raw.get("receivers")
    if not isinstance(items, list) or not items:
        problems.append("digest.receivers: a non-empty list of receiver names")
        items = []
    for i, item in enumerate(items):
        where = f"digest.receivers[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or set(item) - {"name", "all_clear"} or not isinstance(item.get("name"), str):
            problems.append(f"{where}: a receiver name, or a mapping with name and all_clear")
            continue
        own = item.get("all_clear", all_clear)
        if not isinstance(own, bool):
            problems.append(f"{where}.all_clear: true or false")
        receiver = receivers.get(item["name"])
        if receiver is None:
            problems.append(f"{where}: no receiver is named {item['name']!r}; there are: {', '.join(receivers)}")
        elif receiver.channel != "email":
            problems.append(f"{where}: receiver {item['name']!r} does not send email"
                            " (channel email, or channel outbox with format email)")
        chosen.append(DigestReceiver(item["name"], own is True))
    names = [r.name for r in chosen]
    problems += [f"digest.receivers: {n!r} is named twice" for n in sorted({n for n in names if names.count(n) > 1})]
    alerts = raw.get("alerts", False)
    if not isinstance(alerts, bool):
        problems.append("digest.alerts: true (count the Azure Monitor alerts of the last 24 hours) or false")
    team_tag = raw.get("team_tag")
    if team_tag is not None and (not isinstance(team_tag, str) or not team_tag.strip()):
        problems.append("digest.team_tag: the name of a VM tag, like owner")
    days = {}
    for key, default in (("horizon_days", 14), ("deadline_days", 7)):
        days[key] = raw.get(key, default)
        if isinstance(days[key], bool) or not isinstance(days[key], int) or not 1 <= days[key] <= 90:
            problems.append(f"digest.{key}: whole days, 1 to 90")
    if len(problems) > before:
        return None
    if days["deadline_days"] > days["horizon_days"]:
        problems.append("digest.deadline_days: at most horizon_days")
        return None
    return DigestSettings(tuple(chosen), team_tag.strip() if team_tag else None,
                          days["horizon_days"], days["deadline_days"], alerts is True)
