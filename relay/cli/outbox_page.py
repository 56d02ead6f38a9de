"""`outbox/index.html`: every message in the outbox on one page, as a reader would see it. A preview:
nothing on it was sent.

Emails show their HTML part inline (in a frame whose content cannot run script) with the text part and
attachments beside; Teams cards are drawn by the Adaptive Cards renderer (npm adaptivecards, MIT), which
the page carries inside it when node_modules holds it (else as readable HTML, and the page says so);
Slack blocks are drawn as readable HTML. The raw payload is one click away. A message rendered at a
pinned clock (`relay demo`) shows that clock beside it, read from `.demo-clocks.json` in the outbox.
A receiver standing in for a Teams bot writes a folder a thread (relay.channels.outbox_thread): the page shows
it as a channel post shows it, the first card as it ends, then its replies in order.
`index.html?only=<path>` shows that one message (or that one thread's folder) alone (`&lang=ja` or `&lang=en`:
one language of a bilingual email); templates/outbox/preview.js does that and draws the cards. The calendar feeds
`relay demo` writes beside the messages (calendar-<receiver>.ics) are linked at the top, with how to subscribe to
one.
"""
from __future__ import annotations

import email
import email.policy
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from relay.channels.outbox_thread import FIRST, read_thread
from relay.render.markup import TEMPLATES
from relay.render.times import format_time, format_time_both, iso_utc

CLOCKS = ".demo-clocks.json"  # message path (relative to the outbox) → the clock it was rendered at
CALENDARS = "calendar-*.ics"  # a receiver's calendar feed, as a file in the outbox
_STAGE = re.compile(r"-[0-9a-f]{8}-([A-Za-z]+)")
CARD_RENDERER = Path(__file__).resolve().parents[2] / "node_modules" / "adaptivecards"
RENDERER_BUNDLE = "dist/adaptivecards.min.js"  # the browser build, in the package
RENDERER_LICENSES = ("LICENSE", "dist/adaptivecards.min.js.LICENSE.txt")  # MIT: its notices go with it


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
    clock: datetime | None = None  # the clock the message was rendered at, when it was pinned
    follow_up: str = ""  # what the relay sent of its own accord: "reminder: deadline 3d", "held, then released"
    stage: str = ""  # the stage its file name says (Planned, Resolved, …), or ""
    thread: str = ""  # a bot thread's first card: the thread's folder, relative to the outbox
    thread_key: str = ""  # … and the event's thread key
    replies: list[Entry] = field(default_factory=list)  # … and its replies, in order


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


def stage(stem: str) -> str:
    """The stage a message's file name says (relay.pipeline.file_stem: …-<hash>-<stage>…), or ""."""
    found = _STAGE.findall(stem)
    return found[-1] if found else ""


def follow_up(stem: str) -> str:
    """What a message's file name says the relay sent of its own accord (relay.pipeline.own_stem), or ""."""
    if stem.endswith("-released"):
        return "held, then released"
    _, reminder, what = stem.partition("-reminder-")
    return f"reminder: {what.replace('-', ' ')}" if reminder else ""


def read_entry(outbox: Path, path: Path) -> Entry:
    data = path.read_bytes()
    relative = path.relative_to(outbox)
    entry = Entry(receiver=relative.parts[0], path=relative.as_posix(), kind="unknown",
                  raw=data.decode("utf-8", errors="replace"), follow_up=follow_up(path.stem), stage=stage(path.stem))
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


def record_clocks(outbox: Path, clocks: Mapping[Path, datetime]) -> None:
    """Remember the clock each message (a path in the outbox) was rendered at, for the page to show."""
    known = {path: iso_utc(when) for path, when in read_clocks(outbox).items()}
    known.update({path.relative_to(outbox).as_posix(): iso_utc(when) for path, when in clocks.items()})
    (outbox / CLOCKS).write_text(json.dumps(known, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_clocks(outbox: Path) -> dict[str, datetime]:
    """What record_clocks wrote; nothing when the outbox has no clocks (or they cannot be read)."""
    try:
        recorded = json.loads((outbox / CLOCKS).read_text(encoding="utf-8"))
        return {str(path): datetime.fromisoformat(when) for path, when in recorded.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


@dataclass(frozen=True)
class CardRenderer:
    """The Adaptive Cards renderer as the page carries it: its license notices, then its code."""

    license: Markup  # JavaScript line comments
    code: Markup


def card_renderer(package: Path = CARD_RENDERER) -> CardRenderer | None:
    """The renderer from the npm package, or None when it is not installed."""
    try:
        code = (package / RENDERER_BUNDLE).read_text(encoding="utf-8")
        notices = "\n".join((package / name).read_text(encoding="utf-8") for name in RENDERER_LICENSES)
    except (OSError, UnicodeDecodeError):
        return None
    if "</script" in code.lower():  # it could not sit inside the page's <script> element
        return None
    license = "\n".join(f"// {line}".rstrip() for line in notices.splitlines())
    return CardRenderer(Markup(f"// The Adaptive Cards renderer, npm package adaptivecards.\n{license}"), Markup(code))


def _demo_clock(when: datetime) -> str:
    return format_time_both(when, "en")


def read_thread_entry(outbox: Path, folder: Path, clocks: Mapping[str, datetime]) -> Entry:
    """A bot thread: its first card (as it ends) with its replies, in order, each at its clock."""
    thread = read_thread(folder)
    entry = read_entry(outbox, folder / FIRST)
    entry.thread, entry.thread_key = folder.relative_to(outbox).as_posix(), thread.key
    entry.stage, entry.follow_up = stage(thread.start), follow_up(thread.start)
    entry.replies = [read_entry(outbox, folder / name) for name in thread.replies]
    for post in [entry, *entry.replies]:
        post.clock = clocks.get(post.path)
    return entry


def read_entries(outbox: Path) -> list[Entry]:
    """Every message in the outbox, per receiver in the order they were rendered; a bot thread is one entry, at
    the clock it was started, with its replies."""
    files = [p for p in outbox.glob("*/*") if p.suffix in (".json", ".eml") and not p.name.startswith(".")]
    threads = [p.parent for p in outbox.glob(f"*/*/{FIRST}")]
    clocks = read_clocks(outbox)
    entries = [read_entry(outbox, p) for p in files]
    for entry in entries:
        entry.clock = clocks.get(entry.path)
    entries += [read_thread_entry(outbox, folder, clocks) for folder in threads]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: (e.receiver, e.clock or far, e.path))


def write_index(outbox: Path, renderer: Path = CARD_RENDERER) -> Path:
    """outbox/index.html, drawing Teams cards with the renderer of the npm package at `renderer` when there."""
    entries = read_entries(outbox)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters.update(teams_markdown=teams_markdown, slack_mrkdwn=slack_mrkdwn, demo_clock=_demo_clock,
                       jst=lambda when: format_time(when, "en"))
    html = env.get_template("outbox/index.html.j2").render(
        entries=entries,
        message_count=sum(1 + len(e.replies) for e in entries),
        receivers=sorted({e.receiver for e in entries}),
        calendars=sorted(p.name for p in outbox.glob(CALENDARS)),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        card_renderer=card_renderer(renderer),
        preview_js=Markup((TEMPLATES / "outbox" / "preview.js").read_text(encoding="utf-8")),
    )
    index = outbox / "index.html"
    index.write_text(html, encoding="utf-8")
    return index
