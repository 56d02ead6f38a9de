"""`outbox/index.html`: every message in the outbox on one page, as a reader would see it.

Emails show their HTML part inline (in a sandboxed frame) with the text part and attachments beside;
Teams cards and Slack blocks are drawn as readable HTML, with the raw payload one click away.
"""
from __future__ import annotations

import email
import email.policy
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from relay.render.markup import TEMPLATES


@dataclass
class Entry:
    receiver: str
    path: str  # relative to the outbox
    kind: str  # teams, slack, email, unknown
    raw: str
    payload: object = None
    subject: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    html: str = ""
    text: str = ""
    attachments: list[tuple[str, int]] = field(default_factory=list)


def _email_entry(entry: Entry, data: bytes) -> Entry:
    message = email.message_from_bytes(data, policy=email.policy.default)
    entry.kind = "email"
    entry.subject = str(message["Subject"] or "")
    entry.headers = {name: str(message[name]) for name in ("From", "To", "Date") if message[name]}
    for part in message.walk():
        if part.is_multipart():
            continue
        if filename := part.get_filename():
            entry.attachments.append((filename, len(part.get_payload(decode=True) or b"")))
        elif part.get_content_type() == "text/html":
            entry.html = part.get_content()
        elif part.get_content_type() == "text/plain":
            entry.text = part.get_content()
    return entry


def _json_entry(entry: Entry) -> Entry:
    try:
        payload = json.loads(entry.raw)
    except json.JSONDecodeError:
        return entry
    entry.payload = payload
    if isinstance(payload, dict) and payload.get("type") == "message" and payload.get("attachments"):
        entry.kind = "teams"
        entry.payload = payload["attachments"][0].get("content", {})
    elif isinstance(payload, dict) and "blocks" in payload:
        entry.kind = "slack"
    return entry


def read_entry(outbox: Path, path: Path) -> Entry:
    data = path.read_bytes()
    entry = Entry(receiver=path.parent.name, path=str(path.relative_to(outbox)), kind="unknown",
                  raw=data.decode("utf-8", errors="replace"))
    return _email_entry(entry, data) if path.suffix == ".eml" else _json_entry(entry)


_TEAMS_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TEAMS_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|])")
_SLACK_BOLD = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def teams_markdown(text: str) -> Markup:
    """The subset of markdown a Teams TextBlock shows: bold and backslash escapes."""
    shown = str(escape(text))
    shown = _TEAMS_BOLD.sub(r"<b>\1</b>", shown)
    return Markup(_TEAMS_ESCAPED.sub(r"\1", shown))


def slack_mrkdwn(text: str) -> Markup:
    """Slack mrkdwn as the reader sees it: entities decoded, *bold*."""
    return Markup(_SLACK_BOLD.sub(r"<b>\1</b>", str(escape(html.unescape(text)))))


def write_index(outbox: Path) -> Path:
    files = sorted(p for p in outbox.glob("*/*") if p.suffix in (".json", ".eml") and not p.name.startswith("."))
    entries = [read_entry(outbox, p) for p in files]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters.update(teams_markdown=teams_markdown, slack_mrkdwn=slack_mrkdwn)
    html = env.get_template("outbox/index.html.j2").render(
        entries=entries,
        receivers=sorted({e.receiver for e in entries}),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    index = outbox / "index.html"
    index.write_text(html, encoding="utf-8")
    return index
