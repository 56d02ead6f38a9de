"""The words for a VM's maintenance state, its risks and Azure's message about the last attempt: the
glossary's (docs/glossary.md), in both languages, for every value the model has."""
from __future__ import annotations

import pytest

from relay.cli.vm_table import STATE_NAMES
from relay.model import MaintenanceState as S
from relay.model import Risk
from relay.render.markup import macros, plain
from relay.render.view import KNOWN_ATTEMPTS

GLOSSARY = {
    S.START_NOW: ("今すぐ開始", "Start now"),
    S.RETRY_NOW: ("今すぐやり直す（Retry now）", "Retry now"),
    S.SCHEDULED: ("スケジュール済み", "Scheduled"),
    S.RETRY_LATER: ("後で再試行（Retry later）", "Retry later"),
    S.ALREADY_UPDATED: ("更新済み", "Already updated"),
    S.UNKNOWN: ("状態不明（停止済み (割り当て解除)）", "Unknown (stopped, deallocated)"),
    S.NONE: ("－（今回の対象外）", "– (not in this wave)"),
}


def labels():
    return macros("text", "common/labels.j2")


@pytest.mark.parametrize("state", list(S))
def test_every_state_has_the_glossarys_words(state):
    ja, en = GLOSSARY[state]
    assert (plain(labels().state(state.value, "ja")), plain(labels().state(state.value, "en"))) == (ja, en)
    assert state.value in STATE_NAMES  # relay vms names it too


def test_the_isolated_risk():
    assert plain(labels().risk(Risk.ISOLATED.value, "ja")) == "実質単一構成（同じ可用性セットの他の VM はすべて停止中）"
    assert plain(labels().risk(Risk.ISOLATED.value, "en")) == \
        "Effectively single (the other VMs of its availability set are all deallocated)"


@pytest.mark.parametrize("key", list(KNOWN_ATTEMPTS))
def test_every_known_attempt_message_is_translated(key):
    japanese = plain(labels().last_attempt(key, "ja"))
    assert japanese != key and japanese.endswith("。") and not any("a" <= c <= "z" for c in japanese)
    assert plain(labels().last_attempt(key, "en")) == KNOWN_ATTEMPTS[key]
