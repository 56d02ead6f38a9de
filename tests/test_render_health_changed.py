"""A Resource Health alert is about a moment, not a window: its facts say when the resource's health changed
(the event's eventTimestamp), where a maintenance says its window."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from relay.alerts import parse_alert
from relay.model import Enriched, Notification
from relay.render import render
from relay.render.view import build_view
from tests import factories as f
from tests.render_fixtures import email_parts, parse_email, slack_payload, slack_texts

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "alerts" / "07-resource-health.json"
CHANGED = f.NOW - timedelta(minutes=20)


def test_a_resource_health_alert_says_when_the_health_changed_instead_of_a_window():
    view = build_view(f.resource_health())
    assert view.health_changed == CHANGED
    assert view.facts[0] == "health_changed" and "window" not in view.facts


def test_maintenance_keeps_its_window():
    view = build_view(f.planned())
    assert view.health_changed is None
    assert "window" in view.facts and "health_changed" not in view.facts


def test_without_an_event_time_the_window_stays():
    n = f.resource_health()
    n = replace(n, enriched=replace(n.enriched, event=replace(n.event, event_time=None)))
    assert "window" in build_view(n).facts


def test_the_example_alert_has_its_event_time_as_the_change():
    event = parse_alert(EXAMPLE.read_bytes())
    view = build_view(Notification(Enriched(event, f.NOW)))
    assert event.event_time is not None and view.health_changed == event.event_time
    assert "health_changed" in view.facts and "window" not in view.facts


def test_every_channel_shows_the_time_in_jst_and_utc():
    text, html = email_parts(parse_email(render(f.resource_health(), f.receiver("email", "both")).body))
    assert "状態が変わった日時: 2026年1月20日(火) 11:40 JST（2026-01-20 02:40 UTC）" in text
    assert "Health changed: Tue 20 Jan 2026 11:40 JST (2026-01-20 02:40 UTC)" in text
    assert "状態が変わった日時" in html and "未定" not in text
    slack = "\n".join(slack_texts(slack_payload(render(f.resource_health(), f.receiver("slack", "ja")).body)))
    assert "*状態が変わった日時*: 2026年1月20日(火) 11:40 JST（2026-01-20 02:40 UTC）" in slack
    teams = render(f.resource_health(), f.receiver("teams", "en")).body.decode("utf-8")
    assert "Health changed" in teams and "Tue 20 Jan 2026 11:40 JST (2026-01-20 02:40 UTC)" in teams
