"""Hostile variants of real alerts, for the property tests and bench/fuzz.py: values of the wrong type,
missing and extra keys, deep nesting, huge and odd strings, broken JSON and stray bytes. Deterministic for
a given random.Random."""
from __future__ import annotations

import json
import random
from pathlib import Path

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "alerts").glob("*.json"))

ODD_STRINGS = (
    "", " ", "null", "0", "-1", "1e309", "NaN", "true", "[]", "{}", "\u0000", "\ud7ff\ue000", "\u202e\u2066",
    "<script>alert(1)</script>", "<!channel> <@U123> *bold* `code` ~strike~", "{{ 7*7 }}", "${jndi:x}",
    "2027-01-06T00:00:00Z", "2027-02-30T25:61:61Z", "9999-12-31T23:59:59.9999999+14:00", "0001-01-01",
    "https://evil.example/?sig=abc", "=HYPERLINK(\"x\")", "メンテナンス", "a" * 70_000,
    "<" * 5_000, "<a " * 3_000, "&amp;" * 10_000, "\r\n" * 2_000,
)


def paths(doc, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if len(prefix) > 30:  # what an earlier change nested deep is one target, not a thousand
        return found
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, prefix + (i,))
    return found


def odd_value(rng: random.Random):
    roll = rng.randrange(9)
    if roll == 0:
        return rng.choice(ODD_STRINGS)
    if roll == 1:
        return rng.choice((None, True, False, 0, -1, 2 ** 63, 1.5, float("1e300")))
    if roll == 2:
        return []
    if roll == 3:
        return {}
    if roll == 4:
        return [rng.choice(ODD_STRINGS)] * rng.randrange(1, 50)
    if roll == 5:
        nested: object = "x"
        for _ in range(rng.choice((10, 100, 1_000))):
            nested = [nested]
        return nested
    if roll == 6:
        return {f"k{i}": rng.choice(ODD_STRINGS) for i in range(rng.randrange(1, 20))}
    if roll == 7:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 200)))
    return rng.choice(ODD_STRINGS) * rng.randrange(1, 3)


def _set(doc, path: tuple, value) -> object:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


def _delete(doc, path: tuple) -> object:
    if not path:
        return doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return doc


def mutate(rng: random.Random) -> bytes:
    """One hostile body: a real alert with one to four changes, sometimes broken at the byte level."""
    doc = json.loads(rng.choice(EXAMPLES).read_text(encoding="utf-8"))
    for _ in range(rng.randrange(1, 5)):
        targets = paths(doc)
        path = rng.choice(targets)
        action = rng.randrange(3)
        if action == 0:
            doc = _set(doc, path, odd_value(rng))
        elif action == 1 and path:
            doc = _delete(doc, path)
        elif isinstance(doc, dict):
            doc[f"extra{rng.randrange(100)}"] = odd_value(rng)
    try:
        body = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        body = b"[" * 10_000
    roll = rng.random()
    if roll < 0.05:
        body = body[: rng.randrange(len(body) + 1)]
    elif roll < 0.10:
        data = bytearray(body)
        for _ in range(rng.randrange(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        body = bytes(data)
    elif roll < 0.12:
        body = b"\xef\xbb\xbf" + body  # a byte order mark
    elif roll < 0.14:
        body = body.decode("utf-8", "replace").encode("utf-16")
    return body
