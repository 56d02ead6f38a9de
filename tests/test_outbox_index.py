"""outbox/index.html: every message shown, nothing from a payload live in the page."""
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.cli.outbox_page import (
    CARD_RENDERER,
    RENDERER_BUNDLE,
    record_clocks,
    slack_mrkdwn,
    teams_markdown,
    write_index,
)


def test_markdown_previews_show_bold_and_escape_everything_else():
    assert str(teams_markdown("**vm-01** \\[x\\](y) <script>")) == "<b>vm-01</b> [x](y) &lt;script&gt;"
    assert str(slack_mrkdwn("*vm-01* &lt;!channel&gt; 2*3")) == "<b>vm-01</b> &lt;!channel&gt; 2*3"


def test_index_lists_each_message_and_keeps_payload_text_inert(tmp_path):
    (tmp_path / "teams").mkdir()
    (tmp_path / "slack").mkdir()
    card = {"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": "<img src=x onerror=alert(1)>"}],
            "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://app.azure.com/h/X/111555"}]}
    envelope = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                   "content": card}]}
    (tmp_path / "teams" / "a.json").write_text(json.dumps(envelope))
    (tmp_path / "slack" / "a.json").write_text(json.dumps(
        {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "<script>x</script>"}}]}))
    page = write_index(tmp_path).read_text(encoding="utf-8")
    assert page.count('class="msg"') == 2
    assert "<img src=x" not in page and "<script>x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="https://app.azure.com/h/X/111555"' in page


def teams_outbox(root: Path, *names: str) -> Path:
    (root / "teams").mkdir()
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "**vm-01** </script>"}]}
    envelope = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                   "content": card}]}
    for name in names:
        (root / "teams" / name).write_text(json.dumps(envelope))
    return root


def test_page_says_plainly_that_it_is_a_preview(tmp_path):
    page = write_index(teams_outbox(tmp_path, "a.json")).read_text(encoding="utf-8")
    assert "Preview — nothing was sent." in page and "何も送信されていません" in page
    assert "demo clock" not in page  # no clock was pinned


def test_each_message_shows_the_clock_it_was_rendered_at_in_that_order(tmp_path):
    outbox = teams_outbox(tmp_path, "a.json", "b.json")
    record_clocks(outbox, {outbox / "teams" / "b.json": datetime(2027, 1, 6, 0, 12, tzinfo=UTC)})
    record_clocks(outbox, {outbox / "teams" / "a.json": datetime(2027, 2, 19, 15, 6, tzinfo=UTC)})
    page = write_index(outbox).read_text(encoding="utf-8")
    b, a = page.index('data-path="teams/b.json"'), page.index('data-path="teams/a.json"')
    assert b < a  # in the order they were rendered
    assert "demo clock: Wed 6 Jan 2027 09:12 JST (2027-01-06 00:12 UTC)" in page[b:a]
    assert "demo clock: Sat 20 Feb 2027 00:06 JST (2027-02-19 15:06 UTC)" in page[a:]


@pytest.mark.skipif(not (CARD_RENDERER / RENDERER_BUNDLE).is_file(), reason="npm package adaptivecards not installed")
def test_cards_are_drawn_by_the_adaptive_cards_renderer_the_page_carries_with_its_license(tmp_path):
    page = write_index(teams_outbox(tmp_path, "a.json")).read_text(encoding="utf-8")
    assert "For license information please see adaptivecards.min.js.LICENSE.txt" in page  # the bundle itself
    assert "MIT License" in page and "Permission is hereby granted" in page
    assert 'data-card="' in page and '<script type="application/json"' in page
    assert "drawn approximately by this page" not in page
    assert page.lower().count("</script") == page.lower().count("<script")  # the card's text closes nothing


def test_without_the_renderer_cards_are_drawn_by_the_page_and_it_says_so(tmp_path):
    page = write_index(teams_outbox(tmp_path, "a.json"), renderer=tmp_path / "absent").read_text(encoding="utf-8")
    assert "drawn approximately by this page" in page and "npm ci" in page
    assert "data-card=" not in page and "adaptivecards.min.js" not in page
    assert "<b>vm-01</b> &lt;/script&gt;" in page
