"""Azure's HTML, made safe to show in an email: nh3 (the ammonia sanitiser) keeps the structure Azure
writes — paragraphs, lists, emphasis, tables, links — and drops everything else: scripts, styles, event
handlers, images (no tracking pixels), forms, frames, and any link that is not https, http or mailto.
Teams and Slack never get HTML: they show the plain text safetext.py makes of it."""
from __future__ import annotations

import nh3
from markupsafe import Markup

MAX_CHARS = 60_000  # above this, the email shows the plain text instead (its own size budget applies)
TAGS = {"p", "br", "div", "span", "ul", "ol", "li", "b", "strong", "i", "em", "u", "code", "pre", "blockquote",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "hr"}
ATTRIBUTES = {"a": {"href"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
SCHEMES = {"https", "http", "mailto"}


def safe_html(html: str) -> Markup | None:
    """The sanitised HTML, or None when there is none to show (or too much of it)."""
    if not html:
        return None
    cleaned = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES, strip_comments=True,
                        clean_content_tags={"script", "style"}, link_rel="noopener noreferrer")
    if not cleaned.strip() or len(cleaned) > MAX_CHARS:
        return None
    return Markup(cleaned)
