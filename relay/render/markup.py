"""What text becomes in each channel's markup, and the Jinja environments that apply it.

Teams and Slack payloads are JSON built from strings the templates render; each channel has its own
Jinja environment whose output escaping is the channel's markup escaping (Teams markdown, Slack
mrkdwn), so any value printed with {{ }} — all payload text reaches templates only that way — comes out
inert, while literal template text and macro output (Markup) pass unchanged. Email HTML uses Jinja's
HTML autoescape; the email text part needs none.
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
        "window_both": times.format_window_both,
        "window": times.format_window,
        "window_utc": times.format_window_utc,
        "time_both": times.format_time_both,
        "time": times.format_time,
        "time_short": times.format_time_short,
        "countdown": times.format_countdown,
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


def _environment(
    autoescape: bool, escape: Callable[[str], str] | None, finalize: Callable[[Any], Any] | None = None
) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_filters(escape))
    return env


@cache
def environment(dialect: str) -> Environment:
    """The Jinja environment of a dialect: teams, slack, html or text."""
    if dialect == "teams":
        return _environment(True, teams_escape, _escaping_finalize(teams_escape))
    if dialect == "slack":
        return _environment(True, slack_escape, _escaping_finalize(slack_escape))
    if dialect == "html":
        return _environment(True, _html_escape)
    if dialect == "text":
        return _environment(False, None)
    raise RenderError(f"no template dialect {dialect!r}")


def macros(dialect: str, name: str):
    """A template's macros, callable from Python: macros("teams", "common/labels.j2").state("start_now", "ja")."""
    return environment(dialect).get_template(name).module


def plain(markup: Any) -> str:
    """Macro output as the plain str that goes into a JSON payload."""
    return str(markup).strip()
