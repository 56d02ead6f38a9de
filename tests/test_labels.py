"""Every label and every piece of advice exists in both languages.

templates/common/labels.j2 keeps each label's Japanese and English in one macro, a branch a language; a key
that one branch lacks would be shown as the bare key in that language. These tests read the branches'
keys and fail when the two differ, and render every advice and fact key the views can produce in both
languages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from relay.render.markup import macros, plain
from tests import factories as f

LABELS = Path(__file__).resolve().parent.parent / "templates" / "common" / "labels.j2"
_MACRO = re.compile(r"\{%-? macro (\w+)\(key, lang\) -?%\}(.*?)\{%-? endmacro -?%\}", re.S)
_KEY = re.compile(r'\b(?:key|k) == "([^"]+)"')


def keys_by_language(body: str) -> tuple[set[str], set[str]]:
    """The keys the Japanese branch names, and those the English branch names."""
    ja, _, en = body.partition("{%- else -%}\n  {%- if")
    return set(_KEY.findall(ja)), set(_KEY.findall(en))


def label_macros(text: str) -> dict[str, str]:
    return {name: body for name, body in _MACRO.findall(text) if 'lang == "ja"' in body}


def missing(text: str) -> dict[str, tuple[set[str], set[str]]]:
    """Per macro: (keys only Japanese has, keys only English has), for macros where the two differ."""
    found = {}
    for name, body in label_macros(text).items():
        ja, en = keys_by_language(body)
        if ja != en:
            found[name] = (ja - en, en - ja)
    return found


def test_every_label_has_both_languages():
    text = LABELS.read_text(encoding="utf-8")
    assert len(label_macros(text)) >= 10  # the parse found the macros, not nothing
    assert missing(text) == {}


def test_the_check_finds_a_label_that_lacks_a_language():
    text = LABELS.read_text(encoding="utf-8").replace(
        '{%- elif key == "todo" -%}What to do\n', "", 1)
    assert missing(text) == {"title": ({"todo"}, set())}


ADVICE_SCENARIOS = ("planned", "rescheduled_update", "in_progress", "complete", "canceled", "emergency",
                    "zero_vms", "incident", "resource_health", "alert_fired", "alert_resolved", "log_alert")


@pytest.mark.parametrize("scenario", ADVICE_SCENARIOS)
def test_every_advice_and_fact_says_something_in_both_languages(scenario):
    from relay.render.markup import FMT
    from relay.render.view import build_view

    view = build_view(getattr(f, scenario)())
    text = macros("text", "common/text.j2")
    labels = macros("text", "common/labels.j2")
    for lang in ("ja", "en"):
        for key in view.advice:
            assert plain(text.advice(key, view, lang, FMT["text"])), (scenario, key, lang)
        for key in view.facts:
            assert plain(labels.title(key, lang)) != key, (scenario, key, lang)
        assert plain(text.headline(view, lang))
