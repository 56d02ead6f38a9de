import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.text import html_to_text, one_line
from tests.properties import examples


@pytest.mark.parametrize(
    "html, text",
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("a<br>b<br/>c<BR >d", "a\nb\nc\nd"),
        ("a<br><br>b", "a\n\nb"),
        ("<ul><li>One</li><li>Two</li></ul>", "- One\n- Two"),
        ("<p>Intro</p><ul><li><p>One</p></li><li>Two</li></ul><p>After</p>", "Intro\n\n- One\n- Two\n\nAfter"),
        ("<table><tr><td>Virtual Machines</td><td>Japan East<br></td></tr></table>", "Virtual Machines | Japan East"),
        ("<tr><th>Service</th><th>Region</th></tr><tr><td>VM</td><td>Japan West</td></tr>",
         "Service | Region\nVM | Japan West"),
        ("<b>Note:</b> read <i>this</i>.", "Note: read this."),
        ("  lots \n\t of   <span> space </span>  ", "lots of space"),
        ("AT&amp;T &lt;b&gt; &#x41;&#66; caf&eacute;&nbsp;x", "AT&T <b> AB café x"),
        ("<p>Hi<script>alert('x')</script> there</p>", "Hi there"),
        ("<style>p { color: red }</style><p>Styled</p>", "Styled"),
        ("<script>if (a<b && c>d) {}</script>after", "after"),
        ("<p>See <a href='https://example.com/x?a=1'>the docs</a>.</p>", "See the docs."),
        ("<img src='https://example.com/track.gif' alt='x'>text", "text"),
        ("before<!-- a <b>comment</b> -->after", "beforeafter"),
        ("before<!-- never closed", "before"),
        ("<!DOCTYPE html><html><body><p>Doc</p></body></html>", "Doc"),
        ("if a<b then c", "if a<b then c"),
        ("x < y > z", "x < y > z"),
        ("plain text\r\nsecond line\n\n\n\nthird &amp; last", "plain text\nsecond line\n\nthird & last"),
        ("bell\x07 and \u202eoverride\x00", "bell and override"),
        ("lone \ud800 surrogate", "lone surrogate"),
        ("", ""),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    "text, line",
    [
        ("  Planned\nmaintenance \t now ", "Planned maintenance now"),
        ("XY12-3ZQ\x00\x1b[31m", "XY12-3ZQ[31m"),
        ("a\u2028b\u2029c\x85d", "a b cd"),
        ("", ""),
    ],
)
def test_one_line(text, line):
    assert one_line(text) == line


@pytest.mark.parametrize(
    "hostile",
    ["<a" * 100_000, "<!--" * 50_000, "<" + "a" * 200_000, "</" * 100_000, "<?" * 100_000, "<![if" * 40_000],
    ids=["unclosed-tags", "unclosed-comments", "long-tag-name", "bare-end-tags", "processing", "marked-sections"],
)
def test_hostile_markup_is_read_in_linear_time(hostile):
    started = time.perf_counter()
    html_to_text(hostile)
    assert time.perf_counter() - started < 2.0


HTMLISH = st.lists(
    st.sampled_from(["<", ">", "/", "!", "--", "?", "p", "br", "li", "script", "style", "a href='", "'", '"', "=",
                     "&", "#", ";", "amp", "x41", " ", "\n", "\r", "text", "\x00", "\ud800", "[CDATA["]),
    max_size=60,
).map("".join)


@settings(max_examples=examples(300))
@given(st.one_of(st.text(), HTMLISH))
def test_any_text_gives_clean_text(html):
    text = html_to_text(html)
    assert text == text.strip()
    assert "\r" not in text and "\n\n\n" not in text
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    text.encode("utf-8")  # no lone surrogates
    line = one_line(html)
    assert "\n" not in line
    line.encode("utf-8")


@given(st.text(alphabet=st.characters(blacklist_characters="<>&"), max_size=50))
def test_script_content_never_shows(secret):
    assert "SECRET" not in html_to_text(f"<p>shown</p><script>SECRET{secret}</script>")
