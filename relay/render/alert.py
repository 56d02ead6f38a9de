"""What the message of an Azure Monitor alert shows (relay.model.MonitorAlert), worked out once for every channel:
its severity and the tone every channel colours it in, its targets by name, group and subscription, what each
criterion measured, when it fired and resolved and how long it lasted, and its links into the Azure portal. Text
from the payload is cut to size here and cleaned (relay.text); the words are in templates/common/alert.j2."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from relay.model import RESOLVED, Criterion, Event, MonitorAlert, ResourceRef, Window
from relay.render.portal import alert_link, resource_link
from relay.text import one_line, shorten

TARGETS_SHOWN = 3
CRITERIA_SHOWN = 3
DIMENSIONS_SHOWN = 3
FACTS_SHOWN = 8
LINKS_SHOWN, LINKS_IN_BRIEF = 4, 2
URL_LIMIT = 3000  # a Slack button's URL; the alert context's own links are no longer (relay.alerts.alert_context)
VALUE_LIMIT = 80
TEXT_LIMIT = 200  # a rule's name, a query, a description
TONES = {"Sev0": "critical", "Sev1": "error", "Sev2": "warning", "Sev3": "informational", "Sev4": "verbose"}
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.I | re.ASCII)


def _short(text: str | None, limit: int = VALUE_LIMIT) -> str:
    return shorten(one_line(text), limit)


@dataclass(frozen=True)
class TargetRow:
    name: str
    resource_group: str
    subscription_id: str
    type: str


@dataclass(frozen=True)
class CriterionRow:
    metric: str
    query: str
    operator: str
    threshold: str
    value: str
    aggregation: str
    dimensions: tuple[tuple[str, str], ...]
    more_dimensions: int

    @classmethod
    def of(cls, c: Criterion) -> CriterionRow:
        dimensions = tuple((_short(name), _short(value)) for name, value in c.dimensions[:DIMENSIONS_SHOWN])
        return cls(_short(c.metric), _short(c.query, TEXT_LIMIT), _short(c.operator), _short(_figure(c.threshold)),
                   _short(_figure(c.value)), _short(c.aggregation), dimensions,
                   max(0, len(c.dimensions) - DIMENSIONS_SHOWN))


def _figure(text: str | None) -> str | None:
    """A number as a phone shows it at a glance: 1000000 → 1,000,000 (decimals kept as Azure wrote them)."""
    whole, dot, decimals = (text or "").partition(".")
    digits = whole.removeprefix("-")
    if not digits.isdigit() or not digits.isascii() or len(digits) < 5 or (dot and not decimals.isdigit()):
        return text
    return f"{'-' if whole.startswith('-') else ''}{int(digits):,}{dot}{decimals}"


@dataclass(frozen=True)
class AlertView:
    severity: str  # Sev0 … Sev4 (else as Azure wrote it); "" when Azure gave none
    resolved: bool
    refired: bool  # fired again after the thread's last notice said it resolved
    service: str
    signal: str
    rule: str
    name: str  # what its headline calls it: its rule, else what the alert is of (a budget)
    targets: tuple[TargetRow, ...]  # the first TARGETS_SHOWN
    more_targets: int
    items: tuple[str, ...]  # configuration items no target names
    criteria: tuple[CriterionRow, ...]  # the first CRITERIA_SHOWN
    more_criteria: int
    window_minutes: int | None  # the rule's evaluation window; None: unknown, or not in minutes (window_size says)
    window_size: str
    window: Window | None  # the period evaluated; None: unknown
    fired: datetime | None
    resolved_at: datetime | None
    facts: tuple[tuple[str, str], ...]  # (key, value): what else the alert context says
    links: tuple[tuple[str, str], ...]  # (key, URL): the alert, the resource, log results, …
    context_read: bool
    budget: bool  # a cost budget's alert

    @property
    def tone(self) -> str:
        """What every channel colours it by: resolved, else its severity (critical … verbose), else unknown."""
        return "resolved" if self.resolved else TONES.get(self.severity, "unknown")

    @property
    def lasted(self) -> timedelta | None:
        if self.fired is None or self.resolved_at is None or self.resolved_at < self.fired:
            return None
        return self.resolved_at - self.fired

    @property
    def fact_keys(self) -> tuple[str, ...]:
        """Keys of the facts to list, in order; the context's own facts are named by their keys."""
        keys = ["severity", "monitor_condition"] if self.severity else ["monitor_condition"]
        keys += [key for key, present in (
            ("alert_rule", self.rule), ("targets", self.targets), ("configuration_items", self.items),
            ("monitoring_service", self.service or self.signal), ("criteria", self.criteria or self.more_criteria),
            ("alert_window", self.window_minutes or self.window_size or self.window), ("fired", True),
            ("resolved", self.resolved), ("lasted", self.resolved and self.lasted is not None),
        ) if present]
        return (*keys, *(key for key, _ in self.facts))

    def fact(self, key: str) -> str:
        return dict(self.facts).get(key, "")

    @property
    def advice(self) -> tuple[str, ...]:
        if self.resolved:
            return ("alert_resolved",)
        items = ["alert_cost" if self.budget else "alert_check"]
        if any(key == "open_results" for key, _ in self.links):
            items.append("alert_results")
        if not self.context_read:
            items.append("alert_essentials_only")
        return tuple(items)

    def brief(self) -> AlertView:
        """The same alert told in fewer lines, for a channel whose budget the whole does not fit: its first
        target, how many criteria, none of the context's other facts, its first links."""
        return replace(self, targets=self.targets[:1], more_targets=self.more_targets + len(self.targets[1:]), items=(),
                       criteria=(), more_criteria=self.more_criteria + len(self.criteria), facts=(),
                       links=self.links[:LINKS_IN_BRIEF])


def alert_view(event: Event, alert: MonitorAlert, prior_stage: str | None) -> AlertView:
    targets = [ResourceRef.parse(t) for t in alert.targets]
    named = {t.name.casefold() for t in targets}
    resolved = alert.monitor_condition == RESOLVED
    return AlertView(
        severity=_short(alert.severity),
        resolved=resolved,
        refired=not resolved and (prior_stage or "").casefold() == RESOLVED.casefold(),
        service=_short(alert.service),
        signal=_short(alert.signal),
        rule=_short(alert.rule, TEXT_LIMIT),
        name=_short(alert.rule or event.title, TEXT_LIMIT),
        targets=tuple(TargetRow(_short(t.name), _short(t.group), _short(t.subscription), _short(t.type))
                      for t in targets[:TARGETS_SHOWN]),
        more_targets=max(0, len(targets) - TARGETS_SHOWN),
        items=tuple(_short(i) for i in alert.items if i.casefold() not in named)[:TARGETS_SHOWN],
        criteria=tuple(CriterionRow.of(c) for c in alert.criteria[:CRITERIA_SHOWN]),
        more_criteria=max(0, len(alert.criteria) - CRITERIA_SHOWN),
        window_minutes=_minutes(alert.window_size),
        window_size=_short(alert.window_size),
        window=alert.window if alert.window.start or alert.window.end else None,
        fired=alert.fired,
        resolved_at=alert.resolved,
        facts=tuple((key, _short(value, TEXT_LIMIT)) for key, value in alert.facts[:FACTS_SHOWN]),
        links=_links(event, alert, targets),
        context_read=alert.context_read,
        budget=(alert.service or "").replace(" ", "").casefold() == "costalerts",
    )


def _minutes(duration: str | None) -> int | None:
    """An ISO 8601 duration (PT5M, PT1H, P1D) in whole minutes; None when it is not one."""
    match = _ISO_DURATION.fullmatch((duration or "").strip())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = days * 1440 + hours * 60 + minutes + seconds // 60
    return total if total and not seconds % 60 and total < 10**6 else None


def _links(event: Event, alert: MonitorAlert, targets: list[ResourceRef]) -> tuple[tuple[str, str], ...]:
    """The alert in the portal, its first target, then the links the alert context gave."""
    own = (("open_alert", alert_link(event.alert_id)),
           ("open_resource", resource_link(targets[0].id, "overview") if targets and targets[0].type else None))
    found = [(key, url) for key, url in own if url] + [(f"open_{key}", url) for key, url in alert.links]
    return tuple(link for link in dict.fromkeys(found) if len(link[1]) <= URL_LIMIT)[:LINKS_SHOWN]
