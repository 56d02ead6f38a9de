"""Reading the JSON of an HTTP answer within bounds, whatever the server sends: at most a given number of bytes,
nested at most MAX_DEPTH levels (json recurses, so a deeper document would raise RecursionError), and no
Infinity or NaN (json reads 1e999 as infinity, which would go out to the relay as `Infinity`, not JSON)."""
from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

MAX_DEPTH = 64  # a Scheduled Events document has 4 levels

# A string is skipped whole (an unterminated one runs to the end); brackets are counted.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


class Unreadable(ValueError):
    """The answer is too large, too deep, or not JSON; the text says which, to follow "answered"."""


def read_json(answer: Any, limit: int) -> Any:
    """The JSON value of an answer (a file-like HTTP response) of at most `limit` bytes, None when it is blank.
    No more than limit + 1 bytes are read, so memory stays bounded; the caller closes the connection."""
    raw = answer.read(limit + 1)
    if len(raw) > limit:
        raise Unreadable(f"more than {limit} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("something other than UTF-8") from None
    if not text.strip():
        return None
    depth = 0
    for token in _TOKEN.finditer(text):
        if token.group() in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif token.group() in ("]", "}"):
            depth -= 1
    try:
        return json.loads(text, parse_constant=_not_finite, parse_float=_finite)
    except Unreadable:
        raise
    except ValueError:  # not JSON, or an integer of more digits than Python reads
        raise Unreadable("something other than JSON") from None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _not_finite(text)
    return value


def _not_finite(text: str) -> NoReturn:
    raise Unreadable(f"the number {text[:30]}, which is not finite")
