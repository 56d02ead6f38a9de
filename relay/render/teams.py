"""Teams: an Adaptive Card 1.5 in a Workflows envelope, at most TEAMS_MAX_BYTES serialized.

Text from Azure, VMs or tags is shown as it is and never read as markdown. The teams templates mark every
value they print (markup.teams_mark); a line that holds one becomes a RichTextBlock of TextRuns, which read
no markdown, with our own **bold** made the runs' weight, while a line of only our own words stays a
TextBlock. Every TextRun has `{{` broken, so no DATE()/TIME() card function can fire. The one TextBlock that
must carry payload is the headline: Teams previews a card by its first TextBlock, so it comes first, and its
payload (regions, tracking id) gets full-width look-alikes for markdown's characters. No backslashes.

Azure's text is one element a line, so its paragraphs and list items stay apart. Beside a VM table it is
folded behind a ShowCard button and gets only the room the rows leave (budget.fit_rows_first); for other
news it is the message, shown under its heading.

A card for a Teams bot receiver (is_bot: transport teams-bot, relay.channels.teams_bot, or the outbox standing in for
it) also has buttons (Action.Execute, Adaptive Cards 1.4 and later): 対応します / I'm on it on every card, in a block of
its own under the summaries, and for on-call readers one "start maintenance" button per VM that can be started now,
under the commands. The bot fills that block with who pressed the button (with_acknowledgements) each time it sends
or updates the card.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from markupsafe import Markup

from relay.model import Acknowledgement, Receiver
from relay.render.budget import communication, dumps, fit_rows_first, largest_fitting
from relay.render.markup import (
    FMT,
    OverBudget,
    Piece,
    macros,
    no_card_functions,
    teams_lookalikes,
    teams_mark,
    teams_pieces,
)
from relay.render.view import View, VmRow, deadline_urgency, short_line

TEAMS_MAX_BYTES = 24 * 1024  # Teams rejects > 28 KB; keep a margin for the Workflows wrapper
TEAMS_MAX_ACTIONS = 5  # command lines a language; the rest are counted
TEAMS_MAX_ROWS = 60  # more never fit; bounds the rows built and measured
TEAMS_COMMUNICATION = (1500, 600, 0)  # characters of Azure's text to try, longest first

# The Teams bot (relay.channels.teams_bot). Its verbs and data keys are relay.channels.teams_actions' (which this
# layer may not import; tests/test_channel_teams_bot.py holds them equal); the bot adds the thread and receiver.
BOT_TRANSPORT = "teams-bot"
# The outbox standing in for the bot (channel outbox, format teams, via: bot; relay.channels.outbox_thread): a folder a
# thread, written as the bot posts, so its cards are the bot's too.
OUTBOX_BOT_TRANSPORT = "outbox-bot"
ACK_VERB = "ack"
START_VERB = "start"
VM_DATA = "vm"
ACK_BLOCK = "acknowledgements"  # the id of the container that holds the ack button and who pressed it
# Teams refuses a bot message over 28 KB (learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/
# conversation-messages, 413 MessageSizeTooBig). The card is fitted to TEAMS_MAX_BYTES with its buttons; who is on it
# gets what is left, short of 1 KiB for the activity around the card (the bot takes its summary off too).
BOT_MAX_BYTES = 28 * 1024
BOT_CARD_MAX_BYTES = BOT_MAX_BYTES - 1024
ACKS_SHOWN = 20  # names on the card at most; the rest are counted
ACK_NAME_LIMIT = 64  # characters of a name as Teams gave it

_DEADLINE_COLOR: dict[str, dict[str, str]] = {"urgent": {"color": "Attention"}, "warning": {"color": "Warning"}, "": {}}
_STATE_COLOR = {
    "start_now": "Warning",
    "retry_now": "Warning",
    "scheduled": "Accent",
    "retry_later": "Attention",
    "already_updated": "Good",
    "unknown": "Default",  # deallocated: nothing to do now, and nothing known
    "none": "Default",
}
_BLOCK_STYLE = ("spacing", "separator", "horizontalAlignment")  # the rest of a style is the text's own
# An alert's tone (relay.render.alert.AlertView.tone): its headline's colour, and its heading's container style.
_TONE_COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning", "informational": "Accent",
               "resolved": "Good"}
_TONE_STYLE = {"critical": "attention", "error": "attention", "warning": "warning", "resolved": "good"}

Element = dict[str, Any]


def message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    labels = macros("teams", "common/labels.j2")
    text = macros("teams", "common/text.j2")
    card = macros("teams", "teams/card.j2")
    lang0 = langs[0]
    bot = is_bot(receiver)

    headline = _headline(text.headline(view, lang0))
    head = _head(view, langs, labels, text, card, bot=bot, start_buttons=bot and receiver.audience == "oncall")
    # Every candidate row is built once; fitting only chooses how many of them go in.
    rows = [_row(row, view, langs, card) for row in view.rows[:TEAMS_MAX_ROWS]]
    table_head = [
        *_blocks(labels.each(labels.title, "table", langs), weight="Bolder", separator=True, spacing="Medium"),
        _columns([_blocks(card.column_titles(c, langs), weight="Bolder", size="Small") for c in ("vm", "state", "windows")]),
    ]
    links: list[Element] = [
        {"type": "Action.OpenUrl", "title": _plain_text(labels.each(labels.title, key, langs)), "url": url}
        for key, url in view.links
    ]

    def envelope(k: int, communication_limit: int) -> bytes:
        body = list(head)
        if k:
            body += table_head + rows[:k]
        if view.total > k:
            # Rows left out: say how many, in each language.
            body += [b for lang in langs for b in _blocks(text.more(view.total - k, lang, "portal"), isSubtle=True, spacing="Small")]
        azure_text = _blocks(communication(view, communication_limit, teams_mark, text.comm_cut(lang0)))
        actions = list(links)
        if azure_text and view.shows_vms:
            # Our own lines say what to do about our VMs; Azure's full text is there for whoever wants it, folded.
            actions.append(_show_card(_plain_text(card.show_original(langs)), azure_text))
        elif azure_text:
            body += _blocks(labels.each(labels.title, view.communication_title, langs), weight="Bolder", separator=True,
                            spacing="Medium") + azure_text
        return dumps(_envelope(headline, body, actions))

    payload = fit_rows_first(len(rows), envelope, lambda b: len(b) <= TEAMS_MAX_BYTES, TEAMS_COMMUNICATION)
    if payload is None:
        raise OverBudget(f"the Teams card for {view.tracking_id or view.title!r} exceeds {TEAMS_MAX_BYTES} bytes")
    return "application/json", payload


def is_bot(receiver: Receiver) -> bool:
    """Whether the receiver gets the bot's cards (its buttons): the Teams bot, or the outbox standing in for it."""
    return receiver.transport in (BOT_TRANSPORT, OUTBOX_BOT_TRANSPORT)


def _envelope(headline: str, body: list[Element], actions: list[Element]) -> Element:
    """The Workflows message. Its summary and the card's fallbackText are the headline, where a client previews
    the message by them; Teams itself previews a Workflows card by its first TextBlock, the headline too."""
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "fallbackText": headline,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
    return {"type": "message", "summary": headline, "attachments": [attachment]}


def with_acknowledgements(card: Element, acks: Sequence[Acknowledgement], langs: tuple[str, ...],
                          max_bytes: int = BOT_CARD_MAX_BYTES) -> Element:
    """A copy of a bot's card (the envelope's content) with who is on the event, first first, a line a language, in
    its ACK_BLOCK above the button (at the end of the card if it has none): as many names as fit in `max_bytes`
    of card, the rest counted. The card as it is when there is nobody, or not even the count fits."""
    if not acks:
        return card
    words = macros("teams", "teams/card.j2")
    named = [replace(ack, name=short_line(ack.name, ACK_NAME_LIMIT)) for ack in acks]

    def with_names(k: int) -> Element:
        lines = [b for lang in langs for b in _blocks(words.acknowledgements(named[:k], len(named) - k, lang),
                                                       spacing="Small")]
        return _with_ack_lines(card, lines)

    k = largest_fitting(min(len(named), ACKS_SHOWN), lambda k: len(dumps(with_names(k))) <= max_bytes)
    return card if k is None else with_names(k)


def _with_ack_lines(card: Element, lines: list[Element]) -> Element:
    body = list(card.get("body", []))
    at = next((i for i, element in enumerate(body) if element.get("id") == ACK_BLOCK), None)
    if at is None:
        body.append({"type": "Container", "separator": True, "items": lines})
    else:
        body[at] = {**body[at], "items": lines + list(body[at].get("items", []))}
    return {**card, "body": body}


def _ack_block(langs: tuple[str, ...], card) -> Element:
    """The bot's 対応します / I'm on it button, in the block the bot fills with who pressed it."""
    button = {"type": "Action.Execute", "verb": ACK_VERB, "title": _plain_text(card.ack_button(langs)),
              "style": "positive"}
    return {"type": "Container", "id": ACK_BLOCK, "separator": True, "spacing": "Medium",
            "items": [{"type": "ActionSet", "actions": [button]}]}


def _start_buttons(rows: Sequence[VmRow], langs: tuple[str, ...], card) -> Element:
    """One button a VM: start its self-service maintenance (the bot runs it for whoever pressed it)."""
    return {"type": "ActionSet", "spacing": "Small", "actions": [
        {"type": "Action.Execute", "verb": START_VERB, "title": _plain_text(card.start_button(row, langs)),
         "data": {VM_DATA: vm_id(row)}}
        for row in rows]}


def vm_id(row: VmRow) -> str:
    """The VM's Azure resource id."""
    return (f"/subscriptions/{row.subscription_id}/resourceGroups/{row.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{row.name}")


def _show_card(title: str, body: list[Element]) -> Element:
    return {"type": "Action.ShowCard", "title": title, "card": {"type": "AdaptiveCard", "body": body}}


# ---------------------------------------------------------------------------------------------------
# Text: marked template output as card elements.


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _blocks(marked: str, **style: Any) -> list[Element]:
    """Template output as card elements, one a line, `style` on each; the first keeps its spacing, a line
    after a blank line (a new paragraph) gets more space above. Empty text: none."""
    elements: list[Element] = []
    gap = False
    for line in _lines(teams_pieces(str(marked))):
        if not line:
            gap = bool(elements)
            continue
        if elements:
            style = {key: value for key, value in style.items() if key not in _BLOCK_STYLE}
            style |= {"spacing": "Medium"} if gap else {}
        elements.append(_line(line, style))
        gap = False
    return elements


def _lines(pieces: list[Piece]) -> list[list[Piece]]:
    """The pieces line by line, each line trimmed; a blank line is empty."""
    lines: list[list[Piece]] = [[]]
    for piece in pieces:
        first, *rest = piece.text.split("\n")
        lines[-1].append(Piece(first, piece.payload))
        lines += [[Piece(text, piece.payload)] for text in rest]
    return [_trimmed(line) for line in lines]


def _trimmed(line: list[Piece]) -> list[Piece]:
    """A line without the white space at its ends (which may span pieces)."""
    line = list(line)
    while line and not line[0].text.strip():
        line.pop(0)
    while line and not line[-1].text.strip():
        line.pop()
    if line:
        line[0] = Piece(line[0].text.lstrip(), line[0].payload)
        line[-1] = Piece(line[-1].text.rstrip(), line[-1].payload)
    return line


def _line(line: list[Piece], style: dict[str, Any]) -> Element:
    """One line: a TextBlock when it is all our own words (whose markdown is ours), else a RichTextBlock."""
    if not any(piece.payload for piece in line):
        return _text("".join(piece.text for piece in line), **style)
    text_style = {key: value for key, value in style.items() if key not in _BLOCK_STYLE}
    block_style = {key: value for key, value in style.items() if key in _BLOCK_STYLE}
    return {"type": "RichTextBlock", "inlines": _runs(line, text_style), **block_style}


def _runs(line: list[Piece], style: dict[str, Any]) -> list[Element]:
    """TextRuns for a line: payload as it is, our `**` toggling bold; neighbours alike are one run."""
    spans: list[tuple[str, bool]] = []
    bold = False
    for piece in line:
        for i, part in enumerate([piece.text] if piece.payload else piece.text.split("**")):
            bold = bold != (i > 0)
            if part and spans and spans[-1][1] == bold:
                spans[-1] = (spans[-1][0] + part, bold)
            elif part:
                spans.append((part, bold))
    return [_run(text, {**style, "weight": "Bolder"} if bold else style) for text, bold in spans]


def _run(text: str, style: dict[str, Any]) -> Element:
    return {"type": "TextRun", "text": no_card_functions(text), **style}


def _plain_text(marked: str) -> str:
    """Template output for a property that is plain text (button titles): the words, markers dropped."""
    return "".join(piece.text for piece in teams_pieces(str(marked))).strip()


def _headline(marked: str) -> str:
    """The headline for the card's first TextBlock (markdown): payload given look-alikes, nothing live."""
    return "".join(
        teams_lookalikes(piece.text) if piece.payload else piece.text for piece in teams_pieces(str(marked))
    ).strip()


# ---------------------------------------------------------------------------------------------------
# Layout.


def _head(view: View, langs: tuple[str, ...], labels, text, card, *, bot: bool = False,
          start_buttons: bool = False) -> list[Element]:
    """Everything above the VM table: headline, kind and title, then per language the news, facts and advice; for
    the bot, the ack button; the commands (for the bot, with `start_buttons`, a button a VM)."""
    color = _urgency_color(view)
    top = [
        _text(_headline(text.headline(view, lang)), size="Large" if i == 0 else "Medium", weight="Bolder", color=color,
              **({"spacing": "None"} if i else {}))
        for i, lang in enumerate(langs)
    ]
    if view.shows_vms:  # else the headline is the kind line
        top += [b for i, lang in enumerate(langs)
                for b in _blocks(text.kind_line(view, lang), **({"spacing": "None"} if i else {}))]
    top += _blocks(teams_mark(view.title))
    body: list[Element] = [{"type": "Container", "style": _container_style(view), "bleed": True, "items": top}]
    for i, lang in enumerate(langs):
        items = _summary(view, lang, labels, text, card)
        between = {"separator": True, "spacing": "Large"} if i else {"spacing": "Medium"}
        body.append({"type": "Container", **between, "items": items})
    if bot:
        body.append(_ack_block(langs, card))
    if view.action_rows:
        items = _actions(view, langs, labels, text)
        if start_buttons:
            items.append(_start_buttons(view.action_rows[:TEAMS_MAX_ACTIONS], langs, card))
        body.append({"type": "Container", "separator": True, "items": items})
    return body


def _actions(view: View, langs: tuple[str, ...], labels, text) -> list[Element]:
    """One command a VM that can be started now, then the PowerShell form: once, in the first language, since
    the commands are the same in every language."""
    rows, lang = view.action_rows, langs[0]
    items = _blocks(labels.each(labels.title, "actions", langs), weight="Bolder")
    for row in rows[:TEAMS_MAX_ACTIONS]:
        items += _blocks(Markup("• ") + text.action_line(row, view, lang, FMT["teams"]), fontType="Monospace",
                         spacing="Small")
    if len(rows) > TEAMS_MAX_ACTIONS:
        items += _blocks(text.more(len(rows) - TEAMS_MAX_ACTIONS, lang, "portal"), isSubtle=True)
    return items + _blocks(text.powershell_note(rows[0], lang, FMT["teams"]), isSubtle=True)


def _summary(view: View, lang: str, labels, text, card) -> list[Element]:
    """One language's news, facts, and what to do."""
    items = _blocks(text.update_note(view, lang), weight="Bolder", color="Good" if view.good_news else "Warning")
    for i, key in enumerate(view.facts):
        items += _blocks(card.fact_line(key, view, lang), **({"spacing": "None"} if i else {}))
    if view.shows_vms and not view.total:
        items += _blocks(text.no_vms(view, lang))
    if view.advice:
        items += _blocks(labels.title("todo", lang), weight="Bolder", spacing="Medium")
    for key in view.advice:
        items += _blocks(Markup("• ") + text.advice(key, view, lang, FMT["teams"]))
    return items


def _urgency_color(view: View) -> str:
    """The headline's colour: red when urgent, amber when the earliest deadline is days away, green when every VM
    is done; an alert's by its severity, green once resolved."""
    if view.alert is not None:
        return _TONE_COLOR.get(view.alert.tone, "Default")
    if view.good_news:
        return "Good"
    if view.urgent:
        return "Attention"
    return "Warning" if view.deadline_urgency == "warning" else "Default"


def _container_style(view: View) -> str:
    if view.alert is not None:
        return _TONE_STYLE.get(view.alert.tone, "emphasis")
    if view.good_news:
        return "good"
    if view.urgent:
        return "attention"
    return "warning" if view.is_update or view.deadline_urgency == "warning" else "emphasis"


def _columns(cells: list[list[Element]], **style: Any) -> Element:
    widths = (3, 2, 4)
    return {
        "type": "ColumnSet",
        **style,
        "columns": [{"type": "Column", "width": width, "items": cell} for width, cell in zip(widths, cells, strict=True)],
    }


def _row(row: VmRow, view: View, langs: tuple[str, ...], card) -> Element:
    lang0 = langs[0]
    small = {"size": "Small", "spacing": "None"}
    who = _blocks(card.vm_name(row)) + _blocks(card.vm_where(row), isSubtle=True, **small)
    if row.risks:
        who += _blocks(card.vm_risks(row, lang0), color="Warning", **small)
    state = _blocks(card.vm_state(row, langs), weight="Bolder", color=_STATE_COLOR.get(row.state, "Default"))
    if row.deadline:
        state += _blocks(card.vm_deadline(row, view, lang0), **small, **_DEADLINE_COLOR[deadline_urgency(row.deadline, view.now)])
    if row.last_attempt:
        state += _blocks(card.vm_last_attempt(row, lang0), isSubtle=True, **small)
    windows: list[Element] = []
    for which in ("self_service", "scheduled"):
        windows += _blocks(card.vm_window(row, which, lang0), size="Small", **({"spacing": "None"} if windows else {}))
    return _columns([who, state, windows or [_text("-", size="Small", isSubtle=True)]], separator=True)
