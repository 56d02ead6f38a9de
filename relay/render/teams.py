"""Teams: an Adaptive Card 1.5 in a Workflows envelope, at most TEAMS_MAX_BYTES serialized."""
from __future__ import annotations

from typing import Any

from relay.model import Receiver
from relay.render.budget import communication, dumps, fit_rows
from relay.render.markup import FMT, RenderError, macros, plain, teams_escape
from relay.render.view import View, VmRow

TEAMS_MAX_BYTES = 24 * 1024  # Teams rejects > 28 KB; keep a margin for the Workflows wrapper
TEAMS_MAX_ROWS = 60  # more never fit; bounds the rows built and measured
TEAMS_COMMUNICATION = (1500, 600, 0)  # characters of Azure's text to try, longest first

_STATE_COLOR = {
    "start_now": "Warning",
    "retry_now": "Warning",
    "scheduled": "Accent",
    "retry_later": "Attention",
    "already_updated": "Good",
    "none": "Default",
}


def message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    labels = macros("teams", "common/labels.j2")
    text = macros("teams", "common/text.j2")
    card = macros("teams", "teams/card.j2")
    fmt = FMT["teams"]
    lang0 = langs[0]

    head = _head(view, langs, labels, text, fmt)
    # Every candidate row is built once; fitting only chooses how many of them go in.
    rows = [_row(row, view, langs, card) for row in view.rows[:TEAMS_MAX_ROWS]]
    table_head = [
        _text(plain(labels.each(labels.title, "table", langs)), weight="Bolder", separator=True, spacing="Medium"),
        _columns(
            [_text(plain(card.column_titles(c, langs)), weight="Bolder", size="Small") for c in ("vm", "state", "windows")]
        ),
    ]
    actions = (
        [{"type": "Action.OpenUrl", "title": plain(labels.each(labels.title, "open", langs)), "url": view.link}]
        if view.link
        else []
    )

    def envelope(k: int, communication_limit: int) -> bytes:
        body = list(head)
        if k:
            body += table_head + rows[:k]
        if view.total > k:
            # Rows left out: say how many, in each language.
            body += [_text(plain(text.more(view.total - k, lang, "portal")), isSubtle=True, spacing="Small") for lang in langs]
        azure_text = communication(view, communication_limit, teams_escape, text.comm_cut(lang0))
        if azure_text:
            body += [
                _text(plain(labels.each(labels.title, view.communication_title, langs)), weight="Bolder", separator=True, spacing="Medium"),
                _text(azure_text, size="Small"),
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
        return dumps(
            {
                "type": "message",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
                ],
            }
        )

    payload = fit_rows(len(rows), envelope, lambda b: len(b) <= TEAMS_MAX_BYTES, TEAMS_COMMUNICATION)
    if payload is None:
        raise RenderError(f"the Teams card for {view.tracking_id or view.title!r} exceeds {TEAMS_MAX_BYTES} bytes")
    return "application/json", payload


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _head(view: View, langs, labels, text, fmt) -> list[dict[str, Any]]:
    """Everything above the VM table: headline, title, then per language the news, facts and advice."""
    color = "Attention" if view.urgent else "Default"
    style = "attention" if view.urgent else ("warning" if view.is_update else "emphasis")
    headlines = [_text(plain(text.headline(view, langs[0])), size="Large", weight="Bolder", color=color)] + [
        _text(plain(text.headline(view, lang)), size="Medium", weight="Bolder", color=color, spacing="None")
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
        note = plain(text.update_note(view, lang))
        if note:
            part.append(_text(note, weight="Bolder", color="Warning"))
        facts = [
            {"title": plain(labels.title(key, lang)), "value": value}
            for key in view.facts
            if (value := plain(text.fact(key, view, lang)))
        ]
        part.append({"type": "FactSet", "facts": facts})
        if view.shows_vms and not view.total:
            part.append(_text(plain(text.no_vms(view, lang))))
        part.append(_text(plain(labels.title("todo", lang)), weight="Bolder", spacing="Medium"))
        part += [_text("• " + plain(text.advice(key, view, lang, fmt)), spacing="Small") for key in view.advice]
        body.append({"type": "Container", "separator": i > 0, "spacing": "Large" if i else "Medium", "items": part})
    return body


def _columns(cells: list[dict[str, Any] | list[dict[str, Any]]], **style: Any) -> dict[str, Any]:
    widths = (3, 2, 4)
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        **style,
        "columns": [
            {"type": "Column", "width": width, "items": cell if isinstance(cell, list) else [cell]}
            for width, cell in zip(widths, cells, strict=True)
        ],
    }


def _row(row: VmRow, view: View, langs, card) -> dict[str, Any]:
    lang0 = langs[0]
    who = [
        _text(plain(card.vm_name(row))),
        _text(plain(card.vm_where(row)), isSubtle=True, size="Small", spacing="None"),
    ]
    if row.risks:
        who.append(_text(plain(card.vm_risks(row, lang0)), color="Warning", size="Small", spacing="None"))
    state = [_text(plain(card.vm_state(row, langs)), weight="Bolder", color=_STATE_COLOR.get(row.state, "Default"))]
    if row.deadline:
        state.append(_text(plain(card.vm_deadline(row, view, lang0)), size="Small", spacing="None"))
    if row.last_attempt:
        state.append(_text(plain(card.vm_last_attempt(row, lang0)), isSubtle=True, size="Small", spacing="None"))
    windows = [
        _text(line, size="Small", **({"spacing": "None"} if i else {}))
        for i, line in enumerate(filter(None, (plain(card.vm_window(row, which, lang0)) for which in ("self_service", "scheduled"))))
    ] or [_text("-", size="Small", isSubtle=True)]
    return _columns([who, state, windows], separator=True)
