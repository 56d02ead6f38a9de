"""outbox/index.html: every message shown, nothing from a payload live in the page."""
import json

from relay.cli.outbox_page import slack_mrkdwn, teams_markdown, write_index


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
