"""The render stage: one Notification → one channel-native Message per receiver, within the channel's budget.

    render(notification, receiver) -> Message

Wording lives in templates/ (common/ for labels and sentences every channel shares, then teams/, slack/,
email/). Python here decides layout and size, never words.

Escaping. Teams and Slack payloads are JSON built here with json.dumps from strings the templates render;
each channel has its own Jinja environment whose output escaping is the channel's markup escaping
(Teams markdown, Slack mrkdwn), so any value printed with {{ }} — all payload text reaches templates only
that way — comes out inert, while literal template text and macro output (Markup) pass unchanged. Email
HTML uses Jinja's HTML autoescape; the email text part needs none.

Budgets. Each channel measures the real serialized payload and keeps the most urgent VMs that fit,
then says "and N more": Teams envelope ≤ 24 KiB, Slack ≤ 50 blocks, ≤ 3,000 characters a section and
≤ 12,000 characters of blocks in all, email ≤ 50 rows in the body with a CSV of every VM attached.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import jst
from .model import Message, Notification, Receiver
from .views import View, VmRow, build_view, shorten

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

TEAMS_MAX_BYTES = 24 * 1024  # Teams rejects > 28 KB; keep a margin for the Workflows wrapper
TEAMS_MAX_ROWS = 60  # more never fit; bounds the rows built and measured
TEAMS_COMMUNICATION = (1500, 600, 0)  # characters of Azure's text to try, longest first
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_BUTTON = 75
SLACK_MAX_FALLBACK = 3000  # the notification text; chat.postMessage truncates at 4,000
SLACK_MAX_TOTAL = 12_000  # characters of serialized blocks: Slack refuses long block messages
SLACK_MAX_ROWS = 100
SLACK_COMMUNICATION = (2000, 800, 0)
EMAIL_MAX_ROWS = 50
EMAIL_COMMUNICATION = 20_000
DEFAULT_TO = "platform-team@example.invalid"
DEFAULT_FROM = "azure-maintenance-relay@example.invalid"

LANGUAGES = {"ja": ("ja",), "en": ("en",), "both": ("ja", "en")}


class RenderError(ValueError):
    """The receiver asks for something render cannot produce (unknown channel or language)."""


# ---------------------------------------------------------------------------------------------------
# Escaping: what payload text becomes in each channel's markup.

_TEAMS_ANYWHERE = re.compile(r"([\\`*_\[\]<>~&])")
_TEAMS_LINE_START = re.compile(r"^([ \t]*)(\d*)([-+#=.)])", re.MULTILINE)


def teams_escape(text: str) -> str:
    """Teams TextBlock markdown: backslash-escape what could make emphasis, links, lists, headings or
    tags, and break `{{` so the card's DATE()/TIME() functions cannot fire."""
    text = _TEAMS_ANYWHERE.sub(r"\\\1", text)
    text = _TEAMS_LINE_START.sub(r"\1\2\\\3", text)
    return text.replace("{{", "{\\{").replace("}}", "}\\}")


def slack_entities(text: str) -> str:
    """Slack's own escaping, for every text object: & < > as entities, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_MARKERS = re.compile(r"[*~`]|(?<![^\W_])_|_(?![^\W_])")
_SLACK_LOOKALIKES = {"*": "＊", "~": "～", "`": "｀", "_": "＿"}


def slack_escape(text: str) -> str:
    """Slack mrkdwn: entities, and the formatting markers (which have no escape) swapped for
    full-width look-alikes; an underscore inside a word (vm_web_01) formats nothing and stays."""
    return _SLACK_MARKERS.sub(lambda m: _SLACK_LOOKALIKES[m.group()], slack_entities(text))


@dataclass(frozen=True)
class Fmt:
    """How a channel marks up a piece of our own text (templates call fmt.strong / fmt.code)."""

    escape: Callable[[str], str]
    strong_pattern: str = "{}"
    code_pattern: str = "{}"

    def strong(self, text: str) -> Markup:
        return Markup(self.strong_pattern.format(self.escape(str(text))))

    def code(self, text: str) -> Markup:
        return Markup(self.code_pattern.format(self.escape(str(text))))


def _html_escape(text: str) -> str:
    return str(Markup.escape(text))


FMT = {
    # Teams cards have no code spans: a command is shown as it is.
    "teams": Fmt(teams_escape, "**{}**", "{}"),
    "slack": Fmt(slack_escape, "*{}*", "`{}`"),
    "html": Fmt(
        _html_escape,
        "<strong>{}</strong>",
        '<code style="font-family:Consolas,Menlo,monospace;background:#f3f3f3;padding:1px 4px">{}</code>',
    ),
    "text": Fmt(str),
}


# ---------------------------------------------------------------------------------------------------
# Jinja environments: one per output dialect, all loading the same templates/.


def _number(n: int) -> str:
    return f"{n:,}"


def _short_id(value: str, keep: int = 8) -> str:
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def _filters(escape: Callable[[str], str] | None) -> dict[str, Callable[..., Any]]:
    """Filters every environment has: the relay's time formatting, and a join that escapes its items
    the channel's way (Jinja's own join would HTML-escape them)."""

    def join(items, separator: str = ", ") -> str | Markup:
        if escape is None:
            return separator.join(str(i) for i in items)
        return Markup(separator.join(i if isinstance(i, Markup) else escape(str(i)) for i in items))

    return {
        "window_both": jst.format_window_both,
        "window": jst.format_window,
        "window_utc": jst.format_window_utc,
        "time_both": jst.format_time_both,
        "time": jst.format_time,
        "countdown": jst.format_countdown,
        "iso_utc": jst.iso_utc,
        "num": _number,
        "short_id": _short_id,
        "shorten": shorten,
        "join": join,
    }


def _channel_env(escape: Callable[[str], str]) -> Environment:
    """Autoescape on, with the channel's escaping in place of HTML's: finalize hands Jinja an already
    escaped Markup, which its HTML escape then leaves alone. Markup (macro output) passes as it is."""

    def finalize(value: Any) -> Markup:
        if isinstance(value, Markup):
            return value
        return Markup(escape("" if value is None else str(value)))

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_filters(escape))
    return env


def _email_env(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_filters(_html_escape if html else None))
    return env


@cache
def environment(dialect: str) -> Environment:
    """The Jinja environment of a dialect: teams, slack, html or text."""
    if dialect == "teams":
        return _channel_env(teams_escape)
    if dialect == "slack":
        return _channel_env(slack_escape)
    if dialect in ("html", "text"):
        return _email_env(dialect == "html")
    raise RenderError(f"no template dialect {dialect!r}")


def _macros(dialect: str, name: str):
    """A template's macros, callable from Python: _macros("teams", "common/labels.j2").state("start_now", "ja")."""
    return environment(dialect).get_template(name).module


def _s(markup: Any) -> str:
    """Macro output as the plain str that goes into a JSON payload."""
    return str(markup).strip()


# ---------------------------------------------------------------------------------------------------
# Entry point.


def render(notification: Notification, receiver: Receiver) -> Message:
    """The message for one receiver: Teams/Slack JSON or an RFC 822 email, in the receiver's language(s)."""
    langs = LANGUAGES.get(receiver.language)
    if langs is None:
        raise RenderError(f"receiver {receiver.name!r}: unknown language {receiver.language!r}")
    builders = {"teams": _teams_message, "slack": _slack_message, "email": _email_message}
    builder = builders.get(receiver.channel)
    if builder is None:
        raise RenderError(f"receiver {receiver.name!r}: unknown channel {receiver.channel!r}")
    view = build_view(notification)
    content_type, body = builder(view, langs, receiver)
    return Message(
        receiver=receiver,
        notification_key=view.key,
        thread_key=view.thread,
        content_type=content_type,
        body=body,
        summary=summary_line(view),
    )


def summary_line(view: View) -> str:
    """One plain line for logs and the outbox index: kind, stage, trackingId, VM count."""
    return f"{view.kind} {view.stage or '-'} {view.tracking_id or '-'} vms={view.total}"


def largest_fitting(n: int, fits: Callable[[int], bool]) -> int | None:
    """The largest k in 0..n with fits(k), for a fits that stays true below any k where it holds;
    None when not even 0 fits. Binary search: each probe serializes a real payload."""
    if not fits(0):
        return None
    low, high = 0, n
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _communication(view: View, limit: int, escape: Callable[[str], str], cut_note: Any) -> str:
    """Azure's text shortened to `limit` characters and escaped, with our note saying where the rest is."""
    if limit <= 0 or not view.communication:
        return ""
    if len(view.communication) <= limit:
        return escape(view.communication)
    return f"{escape(shorten(view.communication, limit))}{cut_note}"


# ---------------------------------------------------------------------------------------------------
# Teams: an Adaptive Card 1.5 in a Workflows envelope.

_TEAMS_STATE_COLOR = {
    "start_now": "Warning",
    "retry_now": "Warning",
    "scheduled": "Accent",
    "retry_later": "Attention",
    "already_updated": "Good",
    "none": "Default",
}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _teams_message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    labels = _macros("teams", "common/labels.j2")
    text = _macros("teams", "common/text.j2")
    card = _macros("teams", "teams/card.j2")
    fmt = FMT["teams"]
    lang0 = langs[0]

    head = _teams_head(view, langs, labels, text, fmt)
    # Every candidate row is built once; fitting only chooses how many of them go in.
    rows = [_teams_row(row, view, langs, card) for row in view.rows[:TEAMS_MAX_ROWS]]
    table_head = [
        _text(_s(labels.each(labels.title, "table", langs)), weight="Bolder", separator=True, spacing="Medium"),
        _teams_columns(
            [_text(_s(card.column_titles(c, langs)), weight="Bolder", size="Small") for c in ("vm", "state", "windows")]
        ),
    ]
    actions = (
        [{"type": "Action.OpenUrl", "title": _s(labels.each(labels.title, "open", langs)), "url": view.link}]
        if view.link
        else []
    )

    def envelope(k: int, communication_limit: int) -> bytes:
        body = list(head)
        if k:
            body += table_head + rows[:k]
        if view.total > k:
            # Rows left out: say how many, in each language.
            body += [_text(_s(text.more(view.total - k, lang, "portal")), isSubtle=True, spacing="Small") for lang in langs]
        communication = _communication(view, communication_limit, teams_escape, text.comm_cut(lang0))
        if communication:
            body += [
                _text(_s(labels.each(labels.title, "communication", langs)), weight="Bolder", separator=True, spacing="Medium"),
                _text(communication, size="Small"),
            ]
        content: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.5",
            "msteams": {"width": "Full"},
            "body": body,
        }
        if actions:
            content["actions"] = actions
        return _dumps(
            {
                "type": "message",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
                ],
            }
        )

    for communication_limit in TEAMS_COMMUNICATION:
        k = largest_fitting(len(rows), lambda k: len(envelope(k, communication_limit)) <= TEAMS_MAX_BYTES)
        if k is not None:
            return "application/json", envelope(k, communication_limit)
    raise RenderError(f"the Teams card for {view.tracking_id or view.title!r} exceeds {TEAMS_MAX_BYTES} bytes")


def _teams_head(view: View, langs, labels, text, fmt) -> list[dict[str, Any]]:
    """Everything above the VM table: headline, title, then per language the news, facts and advice."""
    color = "Attention" if view.kind == "emergency" else "Default"
    style = "attention" if view.kind == "emergency" else ("warning" if view.is_update else "emphasis")
    headlines = [_text(_s(text.headline(view, langs[0])), size="Large", weight="Bolder", color=color)] + [
        _text(_s(text.headline(view, lang)), size="Medium", weight="Bolder", color=color, spacing="None")
        for lang in langs[1:]
    ]
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": style,
            "bleed": True,
            "items": headlines + [_text(teams_escape(view.title), weight="Bolder")],
        }
    ]
    for i, lang in enumerate(langs):
        part: list[dict[str, Any]] = []
        note = _s(text.update_note(view, lang))
        if note:
            part.append(_text(note, weight="Bolder", color="Warning"))
        facts = [
            {"title": _s(labels.title(key, lang)), "value": value}
            for key in view.facts
            if (value := _s(text.fact(key, view, lang)))
        ]
        part.append({"type": "FactSet", "facts": facts})
        if view.shows_vms and not view.total:
            part.append(_text(_s(text.no_vms(view, lang))))
        part.append(_text(_s(labels.title("todo", lang)), weight="Bolder", spacing="Medium"))
        part += [_text("• " + _s(text.advice(key, view, lang, fmt)), spacing="Small") for key in view.advice]
        body.append({"type": "Container", "separator": i > 0, "spacing": "Large" if i else "Medium", "items": part})
    return body


def _teams_columns(cells: list[dict[str, Any]], **style: Any) -> dict[str, Any]:
    widths = (3, 2, 4)
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        **style,
        "columns": [
            {"type": "Column", "width": width, "items": cell if isinstance(cell, list) else [cell]}
            for width, cell in zip(widths, cells)
        ],
    }


def _teams_row(row: VmRow, view: View, langs, card) -> dict[str, Any]:
    lang0 = langs[0]
    who = [
        _text(_s(card.vm_name(row))),
        _text(_s(card.vm_where(row)), isSubtle=True, size="Small", spacing="None"),
    ]
    if row.risks:
        who.append(_text(_s(card.vm_risks(row, lang0)), color="Warning", size="Small", spacing="None"))
    state = [_text(_s(card.vm_state(row, langs)), weight="Bolder", color=_TEAMS_STATE_COLOR.get(row.state, "Default"))]
    if row.deadline:
        state.append(_text(_s(card.vm_deadline(row, view, lang0)), size="Small", spacing="None"))
    windows = [
        _text(line, size="Small", **({"spacing": "None"} if i else {}))
        for i, line in enumerate(filter(None, (_s(card.vm_window(row, which, lang0)) for which in ("self_service", "scheduled"))))
    ] or [_text("-", size="Small", isSubtle=True)]
    return _teams_columns([who, state, windows], separator=True)


# ---------------------------------------------------------------------------------------------------
# Slack: Block Kit.


def _slack_message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    labels = _macros("slack", "common/labels.j2")
    text = _macros("slack", "common/text.j2")
    slack = _macros("slack", "slack/message.j2")
    fmt = FMT["slack"]
    lang0 = langs[0]

    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": shorten(_s(slack.header(view, langs)), SLACK_MAX_HEADER), "emoji": True},
    }
    head: list[dict[str, Any]] = [header, _mrkdwn_section(_s(slack.title(view)))]
    for lang in langs:
        summary = [_s(slack.note(view, lang))] + [_s(slack.fact(key, view, lang)) for key in view.facts]
        if view.shows_vms and not view.total:
            summary.append(_s(text.no_vms(view, lang)))
        head.append(_mrkdwn_section(_lines(summary)))
        todo = [_s(slack.todo_title(lang))] + [_s(slack.advice(key, view, lang, fmt)) for key in view.advice]
        head.append(_mrkdwn_section(_lines(todo)))
    lines = [
        _lines([_s(slack.vm_line(row, view, langs)), _s(slack.vm_detail(row, langs))], indent="\u2003")
        for row in view.rows[:SLACK_MAX_ROWS]
    ]
    table_title = _s(slack.table_title(langs))
    tail: list[dict[str, Any]] = []
    if view.link:
        tail.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": shorten(_s(labels.each(labels.title, "open", langs)), SLACK_MAX_BUTTON)},
                        "url": view.link,
                        "action_id": "open_portal",
                    }
                ],
            }
        )
    fallback = shorten(_s(slack.fallback(view, lang0)), SLACK_MAX_FALLBACK)
    cut_note = text.comm_cut(lang0)

    def message(k: int, communication_limit: int) -> dict[str, Any]:
        blocks = list(head)
        if k:
            blocks.append({"type": "divider"})
            blocks += [_mrkdwn_section(chunk) for chunk in _chunks([table_title] + lines[:k], SLACK_MAX_SECTION)]
        if view.total > k:
            more = [{"type": "mrkdwn", "text": _s(text.more(view.total - k, lang, "portal"))} for lang in langs]
            blocks.append({"type": "context", "elements": more})
        communication = _slack_communication(view, communication_limit, cut_note)
        if communication:
            blocks.append({"type": "divider"})
            blocks.append(_mrkdwn_section(_s(slack.communication_title(langs))))
            blocks.append({"type": "section", "text": {"type": "plain_text", "text": communication, "emoji": False}})
        return {"text": fallback, "blocks": blocks + tail}

    def fits(payload: dict[str, Any]) -> bool:
        blocks = payload["blocks"]
        return (
            len(blocks) <= SLACK_MAX_BLOCKS
            and all(len(b["text"]["text"]) <= SLACK_MAX_SECTION for b in blocks if b["type"] == "section")
            and len(json.dumps(blocks, ensure_ascii=False)) <= SLACK_MAX_TOTAL
        )

    for communication_limit in SLACK_COMMUNICATION:
        k = largest_fitting(len(lines), lambda k: fits(message(k, communication_limit)))
        if k is not None:
            return "application/json", _dumps(message(k, communication_limit))
    raise RenderError(f"the Slack message for {view.tracking_id or view.title!r} exceeds its budget")


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _lines(lines: Sequence[str], indent: str = "") -> str:
    """The non-empty lines, one under the other, every one after the first indented."""
    kept = [line for line in lines if line]
    return "\n".join(kept[:1] + [indent + line for line in kept[1:]])


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as they fit in (a longer line is cut)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _slack_communication(view: View, limit: int, cut_note: Any) -> str:
    """Azure's text for a plain_text section: entity-escaped, and short enough after escaping."""
    while limit > 0:
        escaped = _communication(view, limit, slack_entities, cut_note)
        if len(escaped) <= SLACK_MAX_SECTION:
            return escaped
        limit = limit * 2 // 3
    return ""


# ---------------------------------------------------------------------------------------------------
# Email: multipart/alternative (text, then HTML), with a CSV of every VM when the body cannot list them all.


def _email_message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    shown = view.rows[:EMAIL_MAX_ROWS]
    context = {
        "v": view,
        "langs": langs,
        "rows": shown,
        "more": view.total - len(shown),
        "communication": shorten(view.communication, EMAIL_COMMUNICATION),
    }
    text_env, html_env = environment("text"), environment("html")
    subject = " ".join(text_env.get_template("email/subject.txt.j2").render(context).split())
    text_body = text_env.get_template("email/body.txt.j2").render(context, fmt=FMT["text"])
    html_body = html_env.get_template("email/body.html.j2").render(context, fmt=FMT["html"])

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = receiver.options.get("from") or DEFAULT_FROM
    msg["To"] = receiver.options.get("to") or DEFAULT_TO
    msg["Date"] = format_datetime(view.now)
    domain = msg["From"].addresses[0].domain or "relay.invalid"
    msg["Message-ID"] = f"<{_digest(view.key, receiver.name)}@{domain}>"
    # Updates of one event share a (virtual) parent, so mail clients show them as one thread.
    thread = f"<thread-{_digest(view.thread)}@{domain}>"
    msg["References"] = thread
    msg["In-Reply-To"] = thread
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text_body, charset="utf-8", cte="base64")
    msg.add_alternative(html_body, subtype="html", charset="utf-8", cte="base64")
    if view.total > len(shown):
        msg.add_attachment(
            vm_csv(view, langs),
            maintype="text",
            subtype="csv",
            filename=f"affected-vms-{_file_part(view.tracking_id) or 'event'}.csv",
        )
    # Fixed boundaries (random by default) make the same notification the same bytes; "_" never
    # occurs in the base64 bodies.
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"relay_{_digest(msg['Message-ID'])}_{i}")
    return "message/rfc822", msg.as_bytes(policy=SMTP)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _file_part(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "_", value)[:40].strip("_")


CSV_COLUMNS = (
    "name",
    "resource_group",
    "subscription",
    "location",
    "state",
    "self_service_start",
    "self_service_end",
    "scheduled_start",
    "scheduled_end",
    "risks",
)


def vm_csv(view: View, langs: tuple[str, ...]) -> bytes:
    """Every affected VM, most urgent first, as UTF-8 CSV with a byte-order mark (Excel reads Japanese right)."""
    labels = _macros("text", "common/labels.j2")
    lang0 = langs[0]  # cells in the first language, headers in all: the file stays small enough to mail
    state_labels = {key: labels.state(key, lang0) for key, _ in view.counts}
    risk_labels: dict[str, str] = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([labels.each(labels.title, key, langs) for key in CSV_COLUMNS])
    for row in view.rows:
        risks = []
        for risk in row.risks:
            if risk not in risk_labels:
                risk_labels[risk] = labels.risk(risk, lang0)
            risks.append(risk_labels[risk])
        self_service, scheduled = row.self_service, row.scheduled
        writer.writerow(
            [
                _csv_safe(row.name),
                _csv_safe(row.resource_group),
                _csv_safe(row.subscription_id),
                _csv_safe(row.location),
                state_labels[row.state],
                jst.iso_utc(self_service.start) if self_service else "",
                jst.iso_utc(self_service.end) if self_service else "",
                jst.iso_utc(scheduled.start) if scheduled else "",
                jst.iso_utc(scheduled.end) if scheduled else "",
                "; ".join(risks),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_safe(value: str | None) -> str:
    """A cell Excel will not run as a formula (=, +, -, @ at the start)."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
