"""The digest's count of the Azure Monitor alerts of the last day: how many fired, per team and severity (pure).

A team is a receiver the routing tree gives the alert to, as it would now (relay.routing.split): the same
receivers its messages went to, unless the config changed since. A Resolved is not counted: it ends a firing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.model import FIRED, SEVERITIES, Enriched, MonitorAlert, Notification
from relay.routing import Routes, split
from relay.store import Communication

WITHIN = timedelta(hours=24)
OTHER = ""  # the column of alerts with no severity (budget alerts) or one Azure does not document


@dataclass(frozen=True)
class TeamAlerts:
    team: str  # a receiver's name; "" when no receiver gets the alert
    counts: tuple[int, ...]  # per AlertCounts.severities
    total: int


@dataclass(frozen=True)
class AlertCounts:
    severities: tuple[str, ...]  # the columns: Sev0 … Sev4, and OTHER when some alert has no known severity
    teams: tuple[TeamAlerts, ...]  # in config order; the alerts no receiver gets last
    total: int  # alerts that fired, each once however many teams got it


def alert_counts(alerts: list[Communication], routes: Routes, now: datetime) -> AlertCounts:
    """The alerts of the ledger that fired within WITHIN before `now`, counted per team and severity."""
    fired = [c.event for c in alerts if c.admitted_at >= now - WITHIN and _fired(c.event.alert)]
    order = [r.receiver.name for r in routes]
    counted: dict[str, dict[str, int]] = {}
    for event in fired:
        severity = event.alert.severity if event.alert and event.alert.severity in SEVERITIES else OTHER
        teams = [receiver.name for receiver, _ in split(Notification(Enriched(event, now, lookup="none")), routes)]
        for team in teams or [""]:
            by_severity = counted.setdefault(team, {})
            by_severity[severity] = by_severity.get(severity, 0) + 1
    columns = SEVERITIES + ((OTHER,) if any(OTHER in c for c in counted.values()) else ())
    ranked = sorted(counted, key=lambda team: order.index(team) if team in order else len(order))
    return AlertCounts(
        severities=columns,
        teams=tuple(TeamAlerts(team, tuple(counted[team].get(s, 0) for s in columns), sum(counted[team].values()))
                    for team in ranked),
        total=len(fired),
    )


def _fired(alert: MonitorAlert | None) -> bool:
    return alert is not None and alert.monitor_condition == FIRED
