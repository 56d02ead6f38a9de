"""Text from outside (Azure's payloads, VM names, tags) as every channel may carry it: the one place that says
which characters never reach a message, how text becomes a single line, and how it is shortened.

HTML (a Service Health `communication`) → plain text: tags are dropped and their text kept: paragraphs, line breaks, list items and table rows become line breaks,
entities are decoded, whitespace is collapsed, <script>/<style> content is dropped whole, and links keep their text
but not their target. The result is plain text, not markup: each channel's renderer escapes it for that channel.
"""
from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_PARAGRAPH_TAGS = frozenset(
    {"p", "div", "ul", "ol", "table", "blockquote", "pre", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_HIDDEN_TAGS = frozenset({"script", "style"})

# Never let these reach a message: controls other than tab and newline (a carriage return is made a newline
# first), direction marks and overrides (text that reads backwards), and lone surrogates (valid in Python
# strings, not in UTF-8).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
_BLANK_RUNS = re.compile(r"\n{3,}")
_LOOKS_LIKE_HTML = re.compile(r"<[A-Za-z/!]")
# A complete tag, a declaration (<!DOCTYPE …>, <?xml …?>), or a lone "<". Possessive quantifiers keep it linear.
_TAG_OR_LT = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*+)[^<>]*+>|<[!?][^<>]*+>|<")


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_LIKE_HTML.search(text))


def html_to_text(html: str) -> str:
    """Azure's HTML (or plain text: no tags, so its own line breaks are kept) as tidy plain text."""
    if not _LOOKS_LIKE_HTML.search(html):
        return _tidy(unescape(_newlines(html)))
    collector = _TextCollector()
    collector.feed(_defuse(html))
    collector.close()
    return _tidy("".join(collector.parts))


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean(text: str | None) -> str:
    """Text as every channel may carry it: no unsafe characters, at most one blank line in a row."""
    if not text:
        return ""
    return _BLANK_RUNS.sub("\n\n", _UNSAFE.sub("", _newlines(text))).strip()


def one_line(text: str | None) -> str:
    """A single line (names, ids, titles): no unsafe characters, every run of whitespace made one space."""
    if not text:
        return ""
    if text.isprintable() and "  " not in text and text.strip() == text:
        return text  # the common case, checked cheaply: 10,000 VMs make 40,000 of these
    return " ".join(_UNSAFE.sub("", _newlines(text)).split())


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """At most `limit` characters, cut at a line or word end when one is near, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    cut = text[: limit - len(ellipsis)]
    for boundary in ("\n", "。", ". ", " "):
        at = cut.rfind(boundary)
        if at >= len(cut) * 0.8:
            cut = cut[: at + len(boundary)]
            break
    return cut.rstrip() + ellipsis


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in _UNSAFE.sub("", text).split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _defuse(html: str) -> str:
    """Reduce the markup to bare tags in one linear pass.

    html.parser rescans from every "<" that does not close, which is quadratic: a few hundred kilobytes of
    "<a<a<a…" take minutes. Attributes are not needed (links keep their text, not their target), comments and
    declarations go, and a "<" that starts no complete tag becomes text.
    """
    return _TAG_OR_LT.sub(_bare_tag, _drop_comments(html))


def _bare_tag(match: re.Match[str]) -> str:
    if match.group(2):
        return f"<{match.group(1)}{match.group(2).lower()}>"
    return "&lt;" if match.group() == "<" else ""


def _drop_comments(html: str) -> str:
    kept, i = [], 0
    while (start := html.find("<!--", i)) != -1:
        kept.append(html[i:start])
        end = html.find("-->", start + 4)
        i = len(html) if end == -1 else end + 3  # an unclosed comment hides the rest, as in a browser
    kept.append(html[i:])
    return "".join(kept)


class _TextCollector(HTMLParser):
    """Collects the text; a break is held until the next text, so breaks from nested blocks do not pile up."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # line breaks owed before the next text: 1 a new line, 2 a blank line
        self._hidden = False  # inside <script>/<style>
        self._items = 0  # depth of open <li>
        self._bullet = False  # a list item started and has no text yet
        self._cells = 0  # cells seen in the current table row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = True
        elif tag == "li":
            self._items += 1
            self._bullet = True
            self._break(1)
        elif tag == "br":
            self._pending = min(2, self._pending + 1)  # <br><br> is how many authors write a blank line
        elif tag == "tr":
            self._cells = 0
            self._break(1)
        elif tag in ("td", "th"):
            if self._cells:
                self._emit(" | ")
            self._cells += 1
        elif tag in _PARAGRAPH_TAGS:
            self._break(1 if self._items else 2)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = False
        elif tag == "li":
            self._items = max(0, self._items - 1)
            self._break(1)
        elif tag == "tr":
            self._break(1)
        elif tag in _PARAGRAPH_TAGS:
            self._break(1 if self._items else 2)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if data.strip():
            self._emit(re.sub(r"\s+", " ", data))
        else:
            self.parts.append(" ")

    def _break(self, lines: int) -> None:
        self._pending = max(self._pending, lines)

    def _emit(self, text: str) -> None:
        self.parts.append("\n" * self._pending)
        self._pending = 0
        if self._bullet:
            self.parts.append("- ")
            self._bullet = False
        self.parts.append(text)
