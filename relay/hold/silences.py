"""Which silence, if any, keeps a receiver's share of an event quiet.

A silence holds for a share when every one of its matchers holds for every item of the share: each VM listed
(its own subscription, group, tags and region, and the event's fields), or the event itself when it lists
none. A silence that matches only some of a team's VMs does not silence the message: the others still need
telling.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from relay.model import AffectedVm, Event, Matcher, Silence
from relay.routing import Condition, region_key, values_of


def condition(matcher: Matcher) -> Condition:
    """The routing condition a matcher is: text in any case (regions without spaces), or a regular expression."""
    if matcher.regex:
        pattern = re.compile(matcher.value, re.IGNORECASE)
    else:
        text = region_key(matcher.value) if matcher.field == "region" else matcher.value
        pattern = re.compile(re.escape(text), re.IGNORECASE)
    return Condition(matcher.field, (pattern,), matcher.tag.lower())


def matchers_text(matchers: Iterable[Matcher]) -> str:
    """A silence's matchers as `relay silence add` takes them: field=value, field=~regex, tag:NAME=value."""
    def shown(m: Matcher) -> str:
        field = f"tag:{m.tag}" if m.field == "tag" else m.field
        return f"{field}{'=~' if m.regex else '='}{m.value}"

    return ", ".join(shown(m) for m in matchers)


def silencing(silences: Iterable[Silence], event: Event, vms: tuple[AffectedVm, ...], receiver: str,
              now: datetime) -> Silence | None:
    """The first silence active at `now` that holds for every item of this share."""
    items = [values_of(event, a.vm) for a in vms] or [values_of(event, None)]
    for values in items:
        values["receiver"] = (receiver,)
    for silence in silences:
        if silence.active(now):
            conditions = [condition(m) for m in silence.matchers]
            if all(c.met(values) for values in items for c in conditions):
                return silence
    return None
