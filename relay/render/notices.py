"""The relay's own notices (Event.notice) in words: each topic's title and text from templates/notices/, in
the receiver's languages, as plain text that each channel then escapes like Azure's own text."""
from __future__ import annotations

from dataclasses import replace

from relay.render.markup import macros, plain
from relay.render.view import TITLE_LIMIT, View
from relay.text import clean, one_line, shorten


def worded(view: View, langs: tuple[str, ...]) -> View:
    """The view with the notice's title ("ja / en") and text (one paragraph block a language), cleaned like
    Azure's: a parked alert's description comes from the alert."""
    assert view.notice is not None
    wording = macros("text", f"notices/{view.notice.topic}.j2")
    title = " / ".join(plain(wording.title(view.notice, lang)) for lang in langs)
    text = "\n\n".join(plain(wording.body(view.notice, lang)) for lang in langs)
    return replace(view, title=shorten(one_line(title), TITLE_LIMIT), communication=clean(text))
