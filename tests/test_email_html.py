"""Azure's HTML in the email: sanitised with nh3 (structure and https links kept, everything active
dropped); the text part, Teams and Slack keep the plain-text conversion."""
import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.enrich import NoInventory, enrich
from relay.model import Notification, Receiver
from relay.render import render
from relay.render.sanitize import MAX_CHARS, safe_html

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "alerts"
NOW = datetime(2027, 1, 12, tzinfo=UTC)

HOSTILE = [
    ("<script>alert(1)</script><p>ok</p>", "<script", "alert(1)"),
    ('<img src="https://tracker.example/p.gif" onerror="alert(1)"><p>ok</p>', "<img", "onerror"),
    ('<a href="javascript:alert(1)">click</a><p>ok</p>', "javascript:", None),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a><p>ok</p>', "data:", None),
    ('<p style="position:fixed;top:0">ok</p>', "style=", "position:fixed"),
    ('<iframe src="https://evil.example"></iframe><p>ok</p>', "<iframe", "evil.example"),
    ('<form action="https://evil.example"><input name="password"></form><p>ok</p>', "<form", "<input"),
    ("<style>body{display:none}</style><p>ok</p>", "<style", "display:none"),
    ("<!--<script>alert(1)</script>--><p>ok</p>", "<script", "<!--"),
    ('<p onclick="steal()">ok</p>', "onclick", "steal()"),
    ('<svg><script>alert(1)</script></svg><p>ok</p>', "<svg", "alert(1)"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example"><p>ok</p>', "<meta", "refresh"),
]


@pytest.mark.parametrize("html,gone,also_gone", HOSTILE)
def test_active_content_is_dropped_and_the_text_kept(html, gone, also_gone):
    cleaned = str(safe_html(html))
    assert gone not in cleaned.lower()
    if also_gone:
        assert also_gone not in cleaned
    assert "ok" in cleaned


def test_structure_and_web_links_are_kept_with_a_safe_rel():
    cleaned = str(safe_html('<p><strong>When</strong></p><ul><li>one</li></ul><a href="https://aka.ms/x">docs</a>'))
    assert "<p><strong>When</strong></p><ul><li>one</li></ul>" in cleaned
    assert '<a href="https://aka.ms/x" rel="noopener noreferrer">docs</a>' in cleaned


def test_nothing_to_show_or_too_much_falls_back_to_the_text():
    assert safe_html("") is None
    assert safe_html("<script>only</script>") is None
    assert safe_html("<p>" + "x" * MAX_CHARS + "</p>") is None


def email_parts(body: dict) -> tuple[str, str]:
    event = parse_alert(json.dumps(body).encode())
    message = render(Notification(enrich(event, NoInventory(), NOW)), Receiver(name="mail", channel="email"))
    parsed = email.message_from_bytes(message.body, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    return text, html


def test_the_email_shows_azures_html_sanitised_and_the_text_part_stays_text():
    body = json.loads((EXAMPLES / "01-planned.json").read_text(encoding="utf-8"))
    properties = body["data"]["alertContext"]["properties"]
    properties["communication"] += '<script>alert("x")</script><a href="javascript:alert(2)">more</a>'
    text, html = email_parts(body)
    assert "<strong>rebooted</strong>" in html and "<ul>" in html
    assert "<script" not in html and "javascript:" not in html and 'alert("x")' not in html
    assert "<strong>" not in text and "rebooted" in text


def test_a_plain_text_communication_stays_preformatted_text():
    body = json.loads((EXAMPLES / "01-planned.json").read_text(encoding="utf-8"))
    body["data"]["alertContext"]["properties"]["communication"] = "Line one\nLine 2 < 3 & three"
    _, html = email_parts(body)
    assert "Line 2 &lt; 3 &amp; three" in html and "white-space:pre-wrap" in html


def test_teams_and_slack_never_get_html():
    event = parse_alert((EXAMPLES / "01-planned.json").read_bytes())
    for channel in ("teams", "slack"):
        message = render(Notification(enrich(event, NoInventory(), NOW)), Receiver(name=channel, channel=channel))
        assert b"<strong>" not in message.body and b"<p>" not in message.body
