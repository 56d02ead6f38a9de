"""Fitting a message into its channel's budget: the most urgent VMs that fit, then "and N more".

Each channel measures the real serialized payload. Azure's own text is tried at a few lengths, longest
first; for each, a binary search finds how many VM rows still fit (fit_rows). Where Azure's text is folded
away (Teams), the rows come first and the text gets what room is left (fit_rows_first).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from relay.render.view import View
from relay.text import shorten

P = TypeVar("P")


def largest_fitting(n: int, fits: Callable[[int], bool]) -> int | None:
    """The largest k in 0..n with fits(k), for a fits that stays true below any k where it holds;
    None when not even 0 fits. Binary search: each probe serializes a real payload."""
    if not fits(0):
        return None
    low, high = 0, n
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def fit_rows(
    n: int, payload: Callable[[int, int], P], fits: Callable[[P], bool], communication_limits: Iterable[int]
) -> P | None:
    """The fitting payload(k, limit) — k of the n rows, Azure's text cut to `limit` characters — with the
    first of communication_limits (longest first) at which any payload fits, and the most rows that then
    fit. None when nothing fits at any limit, not even without rows."""
    for limit in communication_limits:
        def fits_at(k: int, limit: int = limit) -> bool:
            return fits(payload(k, limit))

        k = largest_fitting(n, fits_at)
        if k is not None:
            return payload(k, limit)
    return None


def fit_rows_first(
    n: int, payload: Callable[[int, int], P], fits: Callable[[P], bool], communication_limits: Iterable[int]
) -> P | None:
    """Like fit_rows, but the rows come first: the most of the n rows that fit without Azure's text, then the
    longest of communication_limits that still fits beside them (none when none does). For a channel that
    folds Azure's text away, where a row is worth more than the text it would make room for."""
    k = largest_fitting(n, lambda k: fits(payload(k, 0)))
    if k is None:
        return None
    for limit in communication_limits:
        candidate = payload(k, limit)
        if fits(candidate):
            return candidate
    return payload(k, 0)


def communication(
    view: View, limit: int, escape: Callable[[str], str], cut_note: Any, max_chars: int | None = None
) -> str:
    """Azure's text shortened to `limit` characters and escaped, with our note saying where the rest is.
    With max_chars, the limit shrinks by a third at a time until the escaped text is that short (escaping
    can make it longer), or the text is left out."""
    while limit > 0 and view.communication:
        if len(view.communication) <= limit:
            text = escape(view.communication)
        else:
            text = f"{escape(shorten(view.communication, limit))}{cut_note}"
        if max_chars is None or len(text) <= max_chars:
            return text
        limit = limit * 2 // 3
    return ""


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON: the bytes a channel sends (and Teams measures)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
