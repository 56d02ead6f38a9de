"""outbox/index.html: every message shown, nothing from a payload live in the page; a bot thread as a channel post."""
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.channels.outbox_thread import ThreadOutboxChannel
from relay.cli.outbox_page import (
    CARD_RENDERER,
    RENDERER_BUNDLE,
    record_clocks,
    slack_mrkdwn,
    teams_markdown,
    write_index,
)
from relay.model import Message, Receiver
from relay.render.teams import OUTBOX_BOT_TRANSPORT


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


def bot_thread(root: Path, *stems: str) -> Path:
    """A bot thread as relay.channels.outbox_thread writes it: the first card, then a reply a later message."""
    channel = ThreadOutboxChannel(root)
    for stem in stems:
        card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": f"{stem} </script>"}]}
        envelope = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                       "content": card}]}
        message = Message(Receiver("platform", "teams", transport=OUTBOX_BOT_TRANSPORT), stem, "XY12-3ZQ", "application/json",
                          json.dumps(envelope).encode(), "s", file_stem=stem)
        assert channel.send(message).ok
    return root / "platform" / "XY12-3ZQ"


def test_a_bot_thread_shows_its_first_card_as_it_ends_then_each_reply_in_order_at_its_clock(tmp_path):
    stems = ("20270106T001205Z-XY12-3ZQ-fcab9025-Planned", "20270120T084051Z-XY12-3ZQ-4533f5cf-Rescheduled",
             "20270214T000000Z-XY12-3ZQ-4533f5cf-Rescheduled-reminder-deadline-3d",
             "20270227T160158Z-XY12-3ZQ-a219af3e-Complete")
    folder = bot_thread(tmp_path, *stems)
    at = [datetime(2027, 1, 6, 0, 12, tzinfo=UTC), datetime(2027, 1, 20, 8, 40, tzinfo=UTC),
          datetime(2027, 2, 14, tzinfo=UTC), datetime(2027, 2, 27, 16, 1, tzinfo=UTC)]
    files = [folder / "first.json", *sorted(folder.glob("0*.json"))]
    record_clocks(tmp_path, dict(zip(files, at, strict=True)))
    page = write_index(tmp_path).read_text(encoding="utf-8")
    assert "Outbox preview — 4 messages" in page
    assert page.count('<section class="msg') == 1 and '<section class="msg thread" data-path="platform/XY12-3ZQ">' in page
    posts = re.findall(r'<div class="entry (start|reply)" id="[^"]+" data-path="([^"]+)">\s*<div class="sender">(.*?)</div>',
                       page, re.S)
    assert [(kind, path.rsplit("/", 1)[-1][:2]) for kind, path, _ in posts] == [
        ("start", "fi"), ("reply", "01"), ("reply", "02"), ("reply", "03")]
    start, *replies = [sender for _, _, sender in posts]
    assert "demo clock: Wed 6 Jan 2027 09:12 JST" in start and "Edited: the card as of Sun 28 Feb 2027 01:01 JST" in start
    assert "demo clock: Wed 20 Jan 2027 17:40 JST" in replies[0] and "Edited" not in replies[0]
    assert "reminder: deadline 3d" in replies[1] and "demo clock: Sun 14 Feb 2027 09:00 JST" in replies[1]
    assert "demo clock: Sun 28 Feb 2027 01:01 JST" in replies[2]
    assert ">3 replies</div>" in page
    assert "Planned</a> · Wed 6 Jan 2027 09:12 JST · started the thread" in page  # the thread's outline
    assert "Complete</a> · Sun 28 Feb 2027 01:01 JST" in page
    assert "Complete &lt;/script&gt;" in page and "Complete </script>" not in page


def test_a_bot_thread_without_clocks_still_shows_in_order(tmp_path):
    bot_thread(tmp_path, "t1-aaaaaaaa-Active", "t2-bbbbbbbb-Resolved")
    teams_outbox(tmp_path, "a.json")
    page = write_index(tmp_path).read_text(encoding="utf-8")
    assert "Outbox preview — 3 messages" in page and ">1 reply</div>" in page
    assert page.index('data-path="platform/XY12-3ZQ/first.json"') < page.index('data-path="platform/XY12-3ZQ/01-')
    assert "demo clock" not in page and "Edited<" in page
