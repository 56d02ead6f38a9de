"""How a reader sees a Teams card, for the Teams render tests: its lines in order, whatever element holds them,
and which of them Teams reads as markdown."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

MARKDOWN_ELEMENTS = ("TextBlock", "FactSet")  # the elements whose text Teams reads as markdown


def card_of(body: bytes) -> dict[str, Any]:
    return json.loads(body)["attachments"][0]["content"]


def elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every element and action of a card (a ShowCard's card included), in document order."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from elements(value)


def text_of(element: dict[str, Any]) -> str | None:
    """What one element says: a TextBlock's text, a RichTextBlock's runs joined, an action's title."""
    if element["type"] == "TextBlock":
        return element["text"]
    if element["type"] == "RichTextBlock":
        return "".join(run_text(run) for run in element["inlines"])
    if element["type"].startswith("Action."):
        return element["title"]
    return None


def texts(body: bytes) -> list[str]:
    """The card's lines as a reader sees them, in order: text elements, fact titles and values, action titles."""
    found: list[str] = []
    for element in elements(card_of(body)):
        if element["type"] == "FactSet":
            found += [text for fact in element["facts"] for text in (fact["title"], fact["value"])]
        elif (text := text_of(element)) is not None:
            found.append(text)
    return found


def markdown_texts(body: bytes) -> list[str]:
    """The texts Teams reads as markdown: TextBlocks and FactSets."""
    found: list[str] = []
    for element in elements(card_of(body)):
        if element["type"] == "TextBlock":
            found.append(element["text"])
        elif element["type"] == "FactSet":
            found += [text for fact in element["facts"] for text in (fact["title"], fact["value"])]
    return found


def inlines(body: bytes) -> list[dict[str, Any] | str]:
    """Every inline of every RichTextBlock: a TextRun, or a string (a TextRun with nothing but its text)."""
    return [run for element in elements(card_of(body)) if element["type"] == "RichTextBlock" for run in element["inlines"]]


def run_text(run: dict[str, Any] | str) -> str:
    return run if isinstance(run, str) else run["text"]


def vm_rows(body: bytes) -> list[dict[str, Any]]:
    """The VM rows (ColumnSets after the column titles)."""
    return [b for b in card_of(body)["body"] if b["type"] == "ColumnSet"][1:]


def cell_texts(row: dict[str, Any], column: int) -> list[str]:
    """The lines of one cell of a VM row."""
    return [text for item in row["columns"][column]["items"] if (text := text_of(item)) is not None]
