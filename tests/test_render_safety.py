"""Nothing from a payload reaches a message as live markup, a mention, a link, a header or broken JSON."""
from __future__ import annotations

import json
import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.model import EventKind, ResourceHealthChange
from relay.render import render
from relay.render.markup import (
    PAYLOAD_END,
    PAYLOAD_START,
    Piece,
    slack_escape,
    teams_lookalikes,
    teams_mark,
    teams_pieces,
)
from relay.render.teams import TEAMS_MAX_BYTES
from relay.render.view import ITEM_LIMIT, portal_link
from relay.text import shorten
from tests import factories as f
from tests.properties import examples
from tests.render_fixtures import (
    assert_cards_valid,
    email_parts,
    parse_email,
    slack_payload,
    strings,
)
from tests.teams_card import card_of, cell_texts, elements, inlines, markdown_texts, run_text, text_of, texts, vm_rows

EVIL = "<script>alert(1)</script> <!channel> <!here> <@U123> <https://evil|click> [click](https://evil) *bold* </td> {{ 7*7 }} _it_ ~gone~ `code` &amp; \"q\" 'q'"
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
# Payload text sits in TextRuns, which read no markdown, so it is shown as it came: no backslash anywhere.
# The one exception is the headline (Teams' preview), whose payload gets look-alikes for markdown's characters.

# What a resource group, a VM name, a tag or Azure's text may carry: punctuation that must read as itself,
# and markup that must stay text. ZQX traces it through the card.
PUNCTUATED = (
    "ZQX rg-web (prod) vm_web_01 a-b *star* **strong** [x] `tick` <at>Boss</at> {{DATE(2027-01-01T00:00:00Z)}} "
    "[click](https://evil.example) https://evil.example ~gone~ &amp;"
)
PUNCTUATED_TEXT = PUNCTUATED + "\n\n- a list item\n- another (item)\n# a heading\n1. a numbered item\n> a quote"
# Payload that would be live markup, a mention, a link or a card function in a TextBlock.
LIVE_IN_MARKDOWN = LIVE + ["<at>", "[x]", "`tick`", "`code`", "**strong**", "*star*", "_it_", "~gone~", "{{", "](", "&amp;"]


def shown(text: str) -> str:
    """Payload text as a TextRun carries it: as it came, with an invisible word joiner between two braces."""
    return text.replace("{{", "{\u2060{")


def punctuated():
    n = f.notification(
        f.maintenance_event(title=PUNCTUATED, communication=PUNCTUATED_TEXT, services=(PUNCTUATED,),
                            regions=("Japan East", PUNCTUATED), tracking_id="XY12-3ZQ ZQX *x* [y](z) {{"),
        lookup=PUNCTUATED,
    )
    vms = list(n.enriched.vms)
    first = vms[0].vm
    vms[0] = replace(vms[0], vm=replace(first, name=PUNCTUATED, resource_group=PUNCTUATED, tags={"owner": PUNCTUATED}))
    return replace(n, enriched=replace(n.enriched, vms=tuple(vms)))


def folded(body: bytes) -> list[str]:
    """The lines behind the card's ShowCard button (Azure's own text)."""
    show = next(a for a in card_of(body)["actions"] if a["type"] == "Action.ShowCard")
    return [text for element in elements(show["card"]) if element["type"] == "RichTextBlock" and (text := text_of(element))]


def test_teams_shows_payload_verbatim_without_backslashes(tmp_path):
    body = render(punctuated(), f.receiver("teams")).body
    lines = texts(body)
    assert shown(PUNCTUATED) in lines  # the title
    row = vm_rows(body)[0]
    assert cell_texts(row, 0)[:2] == [shown(PUNCTUATED), f"{shown(PUNCTUATED)} · 0a1b2c3d…"]  # name, resource group
    assert f"サービス：{shown(shorten(PUNCTUATED, ITEM_LIMIT))}" in lines
    assert f"Services: {shown(shorten(PUNCTUATED, ITEM_LIMIT))}" in lines
    # Azure's text: a line a block, list items and all, as Azure wrote them.
    assert folded(body)[:6] == [shown(PUNCTUATED), "- a list item", "- another (item)", "# a heading", "1. a numbered item",
                                "> a quote"]
    envelope = json.loads(body)
    assert not [s for s in strings(envelope) if "\\" in s]  # no backslash anywhere, once the JSON is read
    assert_cards_valid({"punctuated": body}, tmp_path)


def test_teams_payload_never_reaches_markdown():
    """Payload text (traced by ZQX, EVIL's <script>) is only in TextRuns: no TextBlock or fact reads it as
    markdown, but the headline, which carries it with look-alikes. No run links, no card mentions anyone."""
    for n in (punctuated(), hostile(), hostile_resource_health()):
        for language in f.LANGUAGES:
            body = render(n, f.receiver("teams", language)).body
            card = card_of(body)
            headlines = {i["text"] for i in card["body"][0]["items"][: 2 if language == "both" else 1]}
            markdown = [t for t in markdown_texts(body) if t not in headlines]
            assert not [t for t in markdown if "ZQX" in t or "script" in t or "Boss" in t], language
            for text in markdown_texts(body):
                assert not [live for live in LIVE_IN_MARKDOWN if live in text], text
            assert not [r for r in inlines(body) if "{{" in run_text(r) or (isinstance(r, dict) and "selectAction" in r)]
            assert "entities" not in card["msteams"]
            assert card["fallbackText"] == json.loads(body)["summary"] == card["body"][0]["items"][0]["text"]


def test_teams_headline_gives_payload_look_alikes():
    card = card_of(render(punctuated(), f.receiver("teams", "en")).body)
    headline = card["body"][0]["items"][0]["text"]
    assert headline.endswith(f"{teams_lookalikes(shorten(PUNCTUATED, ITEM_LIMIT))} VM reboot XY12-3ZQ ZQX ＊x＊ ［y］(z) {{\u2060{{")
    assert "\\" not in headline


def test_teams_resource_health_fields_are_verbatim():
    lines = texts(render(hostile_resource_health(), f.receiver("teams", "en")).body)
    item = shown(EVIL_ITEM)
    assert f"Health: Available → {item}" in lines
    assert f"Cause: {item}, {item}" in lines  # cause, type
    assert f"Details: {shown(EVIL)}" in lines


def _inert_in_markdown(text: str) -> bool:
    """Nothing in `text` can start markdown, a tag, an entity or a card function: no special character at all."""
    return not (set(text) & set("\\`*_[]<>~&") or "{{" in text)


@given(st.text())
def test_teams_lookalikes_leave_nothing_live(text):
    assert _inert_in_markdown(teams_lookalikes(text))


def test_the_inertness_check_can_fail():
    assert not _inert_in_markdown("[x](y)")
    assert not _inert_in_markdown("a {{DATE(2027-01-01T00:00:00Z)}}")
    assert not _inert_in_markdown("a\\*b")
    assert _inert_in_markdown(teams_lookalikes("[x](y) *b* {{DATE(2027-01-01T00:00:00Z)}} a\\*b"))


@given(st.text())
def test_payload_stays_payload_whatever_it_carries(text):
    """A value cannot pass for our own words, even one that carries the markers themselves."""
    pieces = teams_pieces("ours " + teams_mark(text) + " ours")
    assert "".join(p.text for p in pieces if not p.payload) == "ours  ours"
    assert "".join(p.text for p in pieces if p.payload) == text.replace(PAYLOAD_START, "").replace(PAYLOAD_END, "")


def test_an_unmatched_marker_makes_the_rest_payload():
    assert teams_pieces(f"a{PAYLOAD_START}b") == [Piece("a", False), Piece("b", True)]
    assert teams_pieces(f"a{PAYLOAD_END}b") == [Piece("a", False), Piece("b", False)]


# --- Slack ------------------------------------------------------------------------------------------


def test_slack_escapes_every_payload_field_exactly():
    payload = slack_payload(render(hostile(), f.receiver("slack")).body)
    everything = strings(payload)
    mrkdwn = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and b["text"]["type"] == "mrkdwn"]
    assert mrkdwn[0].split("\n")[-1] == f"*{SLACK_EVIL}*"  # the title, under the other language's headline
    assert f"*サービス*: {slack_escape(EVIL_ITEM)}" in mrkdwn[1].split("\n")
    assert any(line.startswith(f"• *{SLACK_EVIL}*  {SLACK_EVIL} · 0a1b2c3d…") for m in mrkdwn for line in m.split("\n"))
    plain = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and b["text"]["type"] == "plain_text"]
    assert plain[0].startswith(
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;https://evil|click&gt; "
    )
    assert payload["text"].startswith("【要対応 2 台】") and f"Japan East, {slack_escape(EVIL)}"[:60] in payload["text"]
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
    injection = "X\r\nBcc: victim@example.com\r\n\r\n<b>body</b>"
    # The subject carries a maintenance's regions and trackingId, and other news's title.
    maintenance = f.maintenance_event(regions=(injection,), tracking_id="XY12\r\nBcc: victim@example.com")
    news = replace(f.maintenance_event(title=injection), kind=EventKind.INCIDENT)
    for event in (maintenance, news):
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


@settings(max_examples=examples(40), deadline=None)
@given(title=HOSTILE_CHARACTERS, communication=HOSTILE_CHARACTERS, name=HOSTILE_CHARACTERS)
def test_any_text_renders_to_valid_payloads(title, communication, name):
    n = f.with_vm_names(f.notification(f.maintenance_event(title=title, communication=communication)), name)
    bodies = render_all(n)
    envelope = json.loads(bodies["teams"])
    assert len(bodies["teams"]) <= TEAMS_MAX_BYTES
    assert envelope["attachments"][0]["content"]["version"] == "1.5"
    for text in texts(bodies["teams"]):
        assert "\u202e" not in text and "\x00" not in text
    payload = slack_payload(bodies["slack"])
    assert not [s for s in strings(payload) if "<" in s or ">" in s]
    text, html = email_parts(parse_email(bodies["email"]))
    assert "<script" not in html.replace("&lt;script", "")
    assert bodies["email"].isascii()


def test_lone_surrogates_and_controls_do_not_break_json(tmp_path):
    n = f.with_vm_names(f.notification(f.maintenance_event(title="a\ud800b\x00c\u202ed", communication="x\x1by")), "vm\ud83d")
    bodies = render_all(n)
    assert "abcd" in texts(bodies["teams"])
    assert json.loads(bodies["slack"])["blocks"][1]["text"]["text"].split("\n")[-1] == "*abcd*"
    assert_cards_valid({"controls": bodies["teams"]}, tmp_path)
