"""What text becomes in each channel's markup, and the Jinja environments that apply it.

Teams and Slack payloads are JSON built from strings the templates render; each channel has its own
Jinja environment that treats any value printed with {{ }} — all payload text reaches templates only that
way — for the channel, while literal template text and macro output (Markup) pass unchanged. Slack's
output escaping is mrkdwn escaping. Teams escapes nothing: it marks each value (teams_mark), so that
relay/render/teams.py can lay payload text out in TextRuns, which read no markdown, and keep markdown for
our own words. Email HTML uses Jinja's HTML autoescape; the email text part needs none.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from relay.render import times
from relay.text import shorten

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LANGUAGES = {"ja": ("ja",), "en": ("en",), "both": ("ja", "en")}  # a receiver's `language`: what it reads, in order


class RenderError(ValueError):
    """The receiver asks for something render cannot produce (unknown channel or language)."""


class OverBudget(RenderError):
    """Even the fewest VM rows do not fit the channel's size limits."""


# ---------------------------------------------------------------------------------------------------
# Escaping: what payload text becomes in each channel's markup.

# Teams. A value printed in the teams environment comes out between these two private-use characters,
# which no payload keeps (teams_mark drops them), so template output says which of its text is payload.
# Only printing marks: a value joined to macro output with ~ inside a template would pass for our words.
PAYLOAD_START = "\ue000"
PAYLOAD_END = "\ue001"
_PAYLOAD_MARKERS = re.compile("[\ue000\ue001]")
_PAYLOAD_SPLIT = re.compile("([\ue000\ue001])")
# {{DATE(…)}} and {{TIME(…)}} are card functions, read in TextBlock and TextRun alike. A word joiner between
# two braces is invisible and no line break: "{\u2060{" reads as "{{" and starts no function.
_CARD_FUNCTION_BRACE = re.compile(r"\{(?=\{)")
_MARKDOWN_LOOKALIKES = str.maketrans(
    {"\\": "＼", "`": "｀", "*": "＊", "_": "＿", "[": "［", "]": "］", "<": "＜", ">": "＞", "~": "～", "&": "＆"}
)


def teams_mark(text: str) -> str:
    """Payload text as the teams environment prints it: between PAYLOAD_START and PAYLOAD_END."""
    text = _PAYLOAD_MARKERS.sub("", text)
    return f"{PAYLOAD_START}{text}{PAYLOAD_END}" if text else ""


@dataclass(frozen=True)
class Piece:
    """A stretch of Teams template output: our own words (markdown and all), or payload text."""

    text: str
    payload: bool


def teams_pieces(marked: str) -> list[Piece]:
    """Template output cut into our words and payload. Anything after an unmatched PAYLOAD_START counts as
    payload: a cut can only make more text payload, never less."""
    pieces: list[Piece] = []
    depth = 0
    for part in _PAYLOAD_SPLIT.split(marked):
        if part == PAYLOAD_START:
            depth += 1
        elif part == PAYLOAD_END:
            depth = max(depth - 1, 0)
        elif part:
            pieces.append(Piece(part, depth > 0))
    return pieces


def no_card_functions(text: str) -> str:
    """Text with every `{{` broken by an invisible word joiner, so no DATE()/TIME() function can fire."""
    return _CARD_FUNCTION_BRACE.sub("{\u2060", text)


def teams_lookalikes(text: str) -> str:
    """Payload text for the one place it must sit in markdown, the headline (Teams previews a card by its first
    TextBlock): what could make emphasis, code, links, mentions, entities or escapes swapped for full-width
    look-alikes, and `{{` broken. No backslash, nothing live; verbatim for what Azure really sends there
    (regions, tracking ids). Only inline syntax: the text must not start a line."""
    return no_card_functions(text.translate(_MARKDOWN_LOOKALIKES))


def slack_entities(text: str) -> str:
    """Slack's own escaping, for every text object: & < > as entities, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_MARKERS = re.compile(r"[*~`]|(?<![^\W_])_|_(?![^\W_])")
_SLACK_LOOKALIKES = {"*": "＊", "~": "～", "`": "｀", "_": "＿"}


def slack_escape(text: str) -> str:
    """Slack mrkdwn: entities, and the formatting markers (which have no escape) swapped for
    full-width look-alikes; an underscore inside a word (vm_web_01) formats nothing and stays."""
    return _SLACK_MARKERS.sub(lambda m: _SLACK_LOOKALIKES[m.group()], slack_entities(text))


def _html_escape(text: str) -> str:
    return str(Markup.escape(text))


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


FMT = {
    # Teams cards have no code spans: a command is shown as it is. Bold is made a TextRun's weight where the
    # line holds payload (relay/render/teams.py).
    "teams": Fmt(teams_mark, "**{}**", "{}"),
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
        "window_both": times.format_window_both,
        "window": times.format_window,
        "window_utc": times.format_window_utc,
        "time_both": times.format_time_both,
        "time": times.format_time,
        "time_short": times.format_time_short,
        "countdown": times.format_countdown,
        "duration": times.format_duration,
        "iso_utc": times.iso_utc,
        "num": _number,
        "short_id": _short_id,
        "shorten": shorten,
        "join": join,
    }


def _escaping_finalize(escape: Callable[[str], str]) -> Callable[[Any], Markup]:
    """The channel's escaping in place of HTML's: finalize hands Jinja an already escaped Markup, which
    its HTML autoescape then leaves alone. Markup (macro output) passes as it is."""

    def finalize(value: Any) -> Markup:
        if isinstance(value, Markup):
            return value
        return Markup(escape("" if value is None else str(value)))

    return finalize


# Filters that format the relay's own values (times, counts), never text from a payload: in the teams
# environment their output is our own words, not payload.
_OWN_VALUE_FILTERS = ("window_both", "window", "window_utc", "time_both", "time", "time_short", "countdown", "duration",
                      "iso_utc", "num")


def _own_words(format_value: Callable[..., str]) -> Callable[..., Markup]:
    def formatted(*args: Any, **kwargs: Any) -> Markup:
        return Markup(format_value(*args, **kwargs))

    return formatted


def _teams_filters() -> dict[str, Callable[..., Any]]:
    filters = _filters(teams_mark)
    return filters | {name: _own_words(filters[name]) for name in _OWN_VALUE_FILTERS}


def _environment(
    autoescape: bool, filters: dict[str, Callable[..., Any]], finalize: Callable[[Any], Any] | None = None
) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env


@cache
def environment(dialect: str) -> Environment:
    """The Jinja environment of a dialect: teams, slack, html or text."""
    if dialect == "teams":
        return _environment(True, _teams_filters(), _escaping_finalize(teams_mark))
    if dialect == "slack":
        return _environment(True, _filters(slack_escape), _escaping_finalize(slack_escape))
    if dialect == "html":
        return _environment(True, _filters(_html_escape))
    if dialect == "text":
        return _environment(False, _filters(None))
    raise RenderError(f"no template dialect {dialect!r}")


def macros(dialect: str, name: str):
    """A template's macros, callable from Python: macros("teams", "common/labels.j2").state("start_now", "ja")."""
    return environment(dialect).get_template(name).module


def plain(markup: Any) -> str:
    """Macro output as the plain str that goes into a JSON payload."""
    return str(markup).strip()
