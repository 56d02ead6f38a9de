"""Slack: Block Kit, within Slack's limits on blocks, section length and total size."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from relay.model import Receiver
from relay.render.budget import communication, dumps, fit_rows
from relay.render.markup import FMT, OverBudget, macros, plain, slack_entities
from relay.render.view import View
from relay.text import shorten

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_BUTTON = 75
SLACK_MAX_FALLBACK = 3000  # the notification text; chat.postMessage truncates at 4,000
SLACK_MAX_TOTAL = 12_000  # characters of serialized blocks: Slack refuses long block messages
SLACK_MAX_ROWS = 100
SLACK_MAX_ACTIONS = 10  # command lines a language; the rest are counted
SLACK_COMMUNICATION = (2000, 800, 0)  # characters of Azure's text to try, longest first


def message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    labels = macros("slack", "common/labels.j2")
    text = macros("slack", "common/text.j2")
    slack = macros("slack", "slack/message.j2")
    fmt = FMT["slack"]
    lang0 = langs[0]

    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": shorten(plain(slack.header(view, langs)), SLACK_MAX_HEADER), "emoji": True},
    }
    title = plain(slack.title(view, langs))  # an alert in one language has none: its headline is the header
    head: list[dict[str, Any]] = [header] + ([_mrkdwn_section(title)] if title else [])
    for lang in langs:
        summary = [plain(slack.note(view, lang))] + [plain(slack.fact(key, view, lang)) for key in view.facts]
        if view.shows_vms and not view.total:
            summary.append(plain(text.no_vms(view, lang)))
        head.append(_mrkdwn_section(shorten(_lines(summary), SLACK_MAX_SECTION)))
        if view.advice:
            todo = [plain(slack.todo_title(lang))] + [plain(slack.advice(key, view, lang, fmt)) for key in view.advice]
            head.append(_mrkdwn_section(_lines(todo)))
    if view.action_rows:  # once, in the first language: the commands are the same in every language
        head.append(_mrkdwn_section(_lines(_actions(view, langs, slack, text, fmt))[:SLACK_MAX_SECTION]))
    lines = [
        _lines([plain(slack.vm_line(row, view, langs)), plain(slack.vm_detail(row, langs)),
                plain(slack.vm_last_attempt(row, langs))], indent="\u2003")
        for row in view.rows[:SLACK_MAX_ROWS]
    ]
    table_title = plain(slack.table_title(langs))
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": shorten(plain(labels.each(labels.title, key, langs)), SLACK_MAX_BUTTON)},
            "url": url,
            "action_id": "open_portal" if key == "open" else f"{key}_{i}",
        }
        for i, (key, url) in enumerate(view.links)
    ]
    tail: list[dict[str, Any]] = [{"type": "actions", "elements": buttons}] if buttons else []
    fallback = shorten(plain(slack.fallback(view, langs)), SLACK_MAX_FALLBACK)
    cut_note = text.comm_cut(lang0)

    def payload(k: int, communication_limit: int) -> dict[str, Any]:
        blocks = list(head)
        if k:
            blocks.append({"type": "divider"})
            blocks += [_mrkdwn_section(chunk) for chunk in _chunks([table_title] + lines[:k], SLACK_MAX_SECTION)]
        if view.total > k:
            more = [{"type": "mrkdwn", "text": plain(text.more(view.total - k, lang, "portal"))} for lang in langs]
            blocks.append({"type": "context", "elements": more})
        # A plain_text section: Slack's entities only, and short enough after escaping.
        azure_text = communication(view, communication_limit, slack_entities, cut_note, max_chars=SLACK_MAX_SECTION)
        if azure_text:
            blocks.append({"type": "divider"})
            blocks.append(_mrkdwn_section(plain(slack.communication_title(view, langs))))
            blocks.append({"type": "section", "text": {"type": "plain_text", "text": azure_text, "emoji": False}})
        return {"text": fallback, "blocks": blocks + tail}

    def fits(candidate: dict[str, Any]) -> bool:
        blocks = candidate["blocks"]
        return (
            len(blocks) <= SLACK_MAX_BLOCKS
            and all(len(b["text"]["text"]) <= SLACK_MAX_SECTION for b in blocks if b["type"] == "section")
            and len(json.dumps(blocks, ensure_ascii=False)) <= SLACK_MAX_TOTAL
        )

    fitted = fit_rows(len(lines), payload, fits, SLACK_COMMUNICATION)
    if fitted is None:
        raise OverBudget(f"the Slack message for {view.tracking_id or view.title!r} exceeds its budget")
    return "application/json", dumps(fitted)


def _actions(view: View, langs: tuple[str, ...], slack: Any, text: Any, fmt: Any) -> list[str]:
    """The command for each VM that can be started now, the most urgent first, then the PowerShell form."""
    rows, lang = view.action_rows, langs[0]
    lines = [plain(slack.actions_title(langs))]
    lines += [plain(slack.action(row, view, lang, fmt)) for row in rows[:SLACK_MAX_ACTIONS]]
    if len(rows) > SLACK_MAX_ACTIONS:
        lines.append(plain(text.more(len(rows) - SLACK_MAX_ACTIONS, lang, "portal")))
    lines.append(plain(text.powershell_note(rows[0], lang, fmt)))
    return lines


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
