"""Nothing from a payload reaches a message as live markup, a mention, a link, a header or broken JSON."""
from __future__ import annotations

import json
import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.model import ResourceHealthChange
from relay.render import render
from relay.render.markup import slack_escape, teams_escape
from relay.render.teams import TEAMS_MAX_BYTES
from relay.render.view import ITEM_LIMIT, portal_link
from relay.text import shorten
from tests import factories as f
from tests.render_fixtures import (
    assert_cards_valid,
    card_texts,
    email_parts,
    parse_email,
    slack_payload,
    strings,
)

EVIL = "<script>alert(1)</script> <!channel> <!here> <@U123> <https://evil|click> [click](https://evil) *bold* </td> {{ 7*7 }} _it_ ~gone~ `code` &amp; \"q\" 'q'"
TEAMS_EVIL = (
    r"\<script\>alert(1)\</script\> \<!channel\> \<!here\> \<@U123\> \<https://evil|click\> "
    r"\[click\](https://evil) \*bold\* \</td\> {\{ 7\*7 }\} \_it\_ \~gone\~ \`code\` \&amp; " + "\"q\" 'q'"
)
SLACK_EVIL = (
    "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;https://evil|click&gt; "
    "[click](https://evil) ＊bold＊ &lt;/td&gt; {{ 7＊7 }} ＿it＿ ～gone～ ｀code｀ &amp;amp; \"q\" 'q'"
)
# Lists and health values are cut to ITEM_LIMIT characters before they are escaped.
EVIL_ITEM = shorten(EVIL, ITEM_LIMIT)
LIVE = ["<script>", "<!channel>", "<!here>", "<@U123>", "<https://evil|click>", "[click](https://evil)", "*bold*", "</td>"]
COMMUNICATION = EVIL + "\n- a list item\n# a heading\n1. a numbered item\n> a quote"


def hostile():
    """Every payload field a message shows, and a tag it must not, carrying the injection."""
    n = f.notification(
        f.maintenance_event(title=EVIL, communication=COMMUNICATION, services=(EVIL,), regions=("Japan East", EVIL)),
        lookup=EVIL,
    )
    vms = list(n.enriched.vms)
    first = vms[0].vm
    vms[0] = replace(vms[0], vm=replace(first, name=EVIL, resource_group=EVIL, tags={"owner": "TAGVALUE <!channel>"}))
    return replace(n, enriched=replace(n.enriched, vms=tuple(vms)))


def hostile_resource_health():
    n = f.resource_health()
    resource = ResourceHealthChange(
        resource_id=f"/subscriptions/{f.SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{EVIL}",
        current=EVIL,
        previous="Available",
        cause=EVIL,
        type=EVIL,
        details=EVIL,
    )
    event = replace(n.event, title=EVIL, communication=EVIL, resource=resource)
    return replace(n, enriched=replace(n.enriched, event=event))


def render_all(n, language="both"):
    return {channel: render(n, f.receiver(channel, language)).body for channel in ("teams", "slack", "email")}


# --- Teams ------------------------------------------------------------------------------------------


def test_teams_escapes_every_payload_field_exactly(tmp_path):
    body = render(hostile(), f.receiver("teams")).body
    texts = card_texts(body)
    assert texts[2] == TEAMS_EVIL  # the title
    assert f"**{TEAMS_EVIL}**" in texts  # the VM name cell
    assert f"{TEAMS_EVIL} · 0a1b2c3d…" in texts  # its resource group
    assert teams_escape(EVIL_ITEM) in texts  # the services fact
    assert f"Japan East, {teams_escape(EVIL_ITEM)}" in texts  # the regions fact
    communication = texts[-2]
    assert communication.startswith(TEAMS_EVIL + "\n\\- a list item\n\\# a heading\n1\\. a numbered item\n\\> a quote")
    for live in LIVE + ["{{"]:
        assert not [t for t in texts if live in t], live
    assert "TAGVALUE" not in body.decode()
    assert_cards_valid({"hostile": body, "hostile-health": render(hostile_resource_health(), f.receiver("teams")).body}, tmp_path)


def test_teams_escape_of_the_lookup_when_no_vms_were_found():
    texts = card_texts(render(f.notification(vms=(), lookup=EVIL), f.receiver("teams", "en")).body)
    assert f"None of our VMs were found in this event (looked up by {TEAMS_EVIL})." in texts


def test_teams_escape_of_resource_health_fields():
    texts = card_texts(render(hostile_resource_health(), f.receiver("teams", "en")).body)
    item = teams_escape(EVIL_ITEM)
    assert f"Available → {item}" in texts
    assert f"{item}, {item}" in texts  # cause, type
    assert not [t for t in texts if any(live in t for live in LIVE)]


_TEAMS_SPECIAL = set("\\`*_[]<>~&")


def _teams_inert(text: str) -> bool:
    rest = re.sub(r"\\.", "", text, flags=re.DOTALL)  # drop every escaped character
    if set(rest) & _TEAMS_SPECIAL or "{{" in text or "}}" in text:
        return False
    return not re.search(r"^[ \t]*\d*[-+#=.)]", text, flags=re.MULTILINE)


@given(st.text())
def test_teams_escape_leaves_nothing_live(text):
    assert _teams_inert(teams_escape(text))


def test_the_teams_inertness_check_can_fail():
    assert not _teams_inert("[x](y)")
    assert not _teams_inert("a\n- b")
    assert not _teams_inert("\\\\*bold*")
    assert _teams_inert(teams_escape("\\\\*bold*"))


# --- Slack ------------------------------------------------------------------------------------------


def test_slack_escapes_every_payload_field_exactly():
    payload = slack_payload(render(hostile(), f.receiver("slack")).body)
    everything = strings(payload)
    mrkdwn = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and b["text"]["type"] == "mrkdwn"]
    assert mrkdwn[0] == f"*{SLACK_EVIL}*"  # the title
    assert f"*サービス*: {slack_escape(EVIL_ITEM)}" in mrkdwn[1].split("\n")
    assert any(line.startswith(f"• *{SLACK_EVIL}*  {SLACK_EVIL} · 0a1b2c3d…") for m in mrkdwn for line in m.split("\n"))
    plain = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and b["text"]["type"] == "plain_text"]
    assert plain[0].startswith(
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;https://evil|click&gt; "
    )
    assert payload["text"].startswith(f"【計画メンテナンス】予定: {SLACK_EVIL}")
    # No control sequence at all: Slack's < > never appear, so no mention, link or command can.
    assert not [s for s in everything if "<" in s or ">" in s]
    assert not [s for s in everything if "&#" in s]  # nothing HTML-escaped the Jinja way
    assert "TAGVALUE" not in json.dumps(payload)


def test_slack_escape_of_resource_health_and_header():
    payload = slack_payload(render(hostile_resource_health(), f.receiver("slack", "en")).body)
    assert not [s for s in strings(payload) if "<" in s or ">" in s]
    assert f"*Health*: Available → {slack_escape(EVIL_ITEM)}" in payload["blocks"][2]["text"]["text"].split("\n")


@given(st.text())
def test_slack_escape_leaves_nothing_live(text):
    escaped = slack_escape(text)
    assert not set(escaped) & set("<>*~`")
    assert not re.search(r"&(?!amp;|lt;|gt;)", escaped)
    assert not re.search(r"(?<![^\W_])_|_(?![^\W_])", escaped)  # an underscore only inside a word


def test_slack_keeps_underscores_inside_names():
    assert slack_escape("vm_web_01") == "vm_web_01"
    assert slack_escape("_x_ a_ _b") == "＿x＿ a＿ ＿b"


# --- Email ------------------------------------------------------------------------------------------


def test_email_html_is_escaped_and_text_is_verbatim():
    parsed = parse_email(render(hostile(), f.receiver("email")).body)
    text, html = email_parts(parsed)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt;"
    assert escaped in html
    assert "&lt;/td&gt;" in html
    assert "&amp;amp;" in html
    assert "<script" not in html and "</td> " not in html
    assert html.count("<td") == html.count("</td>")
    assert "{{ 7*7 }}" in html and "{{ 7*7 }}" in text
    assert EVIL in text
    assert "TAGVALUE" not in text and "TAGVALUE" not in html
    assert f"<title>{escaped}" in html


def test_email_headers_cannot_be_injected():
    event = f.maintenance_event(title="Maintenance\r\nBcc: victim@example.com\r\n\r\n<b>body</b>")
    parsed = parse_email(render(f.notification(event), f.receiver("email")).body)
    assert parsed["Bcc"] is None
    assert "Bcc: victim@example.com" in str(parsed["Subject"])  # folded into the one subject line


def test_portal_link_encodes_the_tracking_id():
    assert portal_link('X"><script>', (f.SUB,)) == "https://app.azure.com/h/X%22%3E%3Cscript%3E/0a1666"
    assert portal_link("AB/../../evil?x#y", (f.SUB,)) == "https://app.azure.com/h/AB%2F..%2F..%2Fevil%3Fx%23y/0a1666"
    assert portal_link(None, (f.SUB,)) is None
    assert portal_link("XY12-3ZQ", ()) is None


# --- Any text at all --------------------------------------------------------------------------------

HOSTILE_CHARACTERS = st.text(
    alphabet=st.sampled_from(list("<>&*_~`[](){}#-+=!@|\\\"'\n\r\t\x00\x1b\u202e\u2028\ud800 aあ漢1.")) | st.characters(),
    max_size=300,
)


@settings(max_examples=40, deadline=None)
@given(title=HOSTILE_CHARACTERS, communication=HOSTILE_CHARACTERS, name=HOSTILE_CHARACTERS)
def test_any_text_renders_to_valid_payloads(title, communication, name):
    n = f.with_vm_names(f.notification(f.maintenance_event(title=title, communication=communication)), name)
    bodies = render_all(n)
    envelope = json.loads(bodies["teams"])
    assert len(bodies["teams"]) <= TEAMS_MAX_BYTES
    assert envelope["attachments"][0]["content"]["version"] == "1.5"
    for text in card_texts(bodies["teams"]):
        assert "\u202e" not in text and "\x00" not in text
    payload = slack_payload(bodies["slack"])
    assert not [s for s in strings(payload) if "<" in s or ">" in s]
    text, html = email_parts(parse_email(bodies["email"]))
    assert "<script" not in html.replace("&lt;script", "")
    assert bodies["email"].isascii()


def test_lone_surrogates_and_controls_do_not_break_json(tmp_path):
    n = f.with_vm_names(f.notification(f.maintenance_event(title="a\ud800b\x00c\u202ed", communication="x\x1by")), "vm\ud83d")
    bodies = render_all(n)
    assert card_texts(bodies["teams"])[2] == "abcd"
    assert json.loads(bodies["slack"])["blocks"][1]["text"]["text"] == "*abcd*"
    assert_cards_valid({"controls": bodies["teams"]}, tmp_path)
