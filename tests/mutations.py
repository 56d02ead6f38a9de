"""Hostile variants of real alerts (the examples, and Microsoft's documented samples of every kind of Azure Monitor
alert in tests/payloads/common/), for the property tests and bench/fuzz.py: values of the wrong type,
missing and extra keys, deep nesting, huge and odd strings, broken JSON and stray bytes, and in the fields
the pipeline keys and dates on, ids and dates that cannot be delivered. Deterministic for a given
random.Random."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "alerts").glob("*.json"))
PAYLOADS = sorted((Path(__file__).resolve().parent / "payloads" / "common").glob("*.json"))
# A Scheduled Event as relay/agent reports it (the examples hold none).
SCHEDULED_EVENT = {
    "schemaId": "relay/scheduledEvent",
    "data": {
        "vm": {"name": "vm-web-01", "location": "japaneast",
               "resourceId": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-web"
                             "/providers/Microsoft.Compute/virtualMachines/vm-web-01"},
        "observedAt": "2027-01-20T15:05:01Z",
        "event": {"EventId": "5C0FFEE1-0000-4000-8000-000000000042", "EventType": "Reboot",
                  "ResourceType": "VirtualMachine", "Resources": ["vm-web-01"], "EventStatus": "Scheduled",
                  "NotBefore": "Wed, 20 Jan 2027 15:20:00 GMT", "Description": "Host server is undergoing maintenance.",
                  "EventSource": "Platform", "DurationInSeconds": 600},
    },
}

ODD_STRINGS = (
    "", " ", "null", "0", "-1", "1e309", "NaN", "true", "[]", "{}", "\u0000", "\ud7ff\ue000", "\u202e\u2066",
    "<script>alert(1)</script>", "<!channel> <@U123> *bold* `code` ~strike~", "{{ 7*7 }}", "${jndi:x}",
    "2027-01-06T00:00:00Z", "2027-02-30T25:61:61Z", "9999-12-31T23:59:59.9999999+14:00", "0001-01-01",
    "https://evil.example/?sig=abc", "=HYPERLINK(\"x\")", "メンテナンス", "a" * 70_000,
    "<" * 5_000, "<a " * 3_000, "&amp;" * 10_000, "\r\n" * 2_000,
)
# Values that the intake once answered 202 and the pipeline then could not deliver, for the fields they broke:
# ids that end up in file names and ledger keys, dates a message shows in JST.
HOSTILE_IDS = (
    "X" * 240, "XY12-3ZQ" * 17, "XY12\u0000-3ZQ", "XY12-3ZQ\n", "XY12\u202e-3ZQ", "\ud800XY12-3ZQ", "../../XY12-3ZQ",
    "XY12/3ZQ", "XY12\\3ZQ#?", "CON", " ",
)
FAR_DATES = (
    "9999-12-31T23:59:59Z", "9999-01-01T00:00:00Z", "9998-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "0001-01-01T08:59:59+09:00", "1899-12-31T23:59:59Z", "Fri, 31 Dec 9999 23:59:59 GMT", "Sun, 31 Dec 9998 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 +0100", "Mon, 01 Jan 0001 00:00:00 GMT",
)
# Links an alert context hands over, which a message turns into buttons.
HOSTILE_URLS = (
    "javascript:alert(1)", "https://evil.example/?sig=abc", "https://portal.azure.com/#" + "a" * 5_000,
    "https://portal.azure.com/#x<script>\"'", "https://portal.azure.com\u0000/x", "https://[::1/", "https:///x",
    "https://portal.azure.com:99999/", " https://portal.azure.com/#view/x ",
)
TARGETED = {
    **dict.fromkeys(("trackingid", "communicationid", "eventdataid", "alertid", "resourceid", "alerttargetids",
                     "eventid", "name"), HOSTILE_IDS),
    **dict.fromkeys(("impactstarttime", "impactmitigationtime", "eventtimestamp", "submissiontimestamp",
                     "fireddatetime", "resolveddatetime", "windowstarttime", "windowendtime",
                     "searchintervalstarttimeutc", "searchintervalendtimeutc", "observedat", "notbefore"), FAR_DATES),
    **dict.fromkeys(("linktosearchresultsui", "linktofilteredsearchresultsui", "linktosearchresults",
                     "investigationlink", "recommendationresourcelink"), HOSTILE_URLS),
    "durationinseconds": (999_999_999, 86_400),
    "severity": ("Sev9", "sev0", "4", "", "\u202eSev1"),
    "monitorcondition": ("resolved", "Acknowledged", "", "Fired\u0000"),
    "monitoringservice": ("Platform", "Log Alerts V3", "ServiceHealth", "", "Activity Log - Whatever"),
    "alertcontextversion": ("9.9", "1.1", "", None),
}
# json.dumps writes an overflowing float as Infinity, never as 1e999999: this float is swapped for it in the body.
OVERFLOW_MARK, OVERFLOW = 1e308, "1e999999"


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
        return rng.choice((None, True, False, 0, -1, 2 ** 63, 1.5, float("1e300"), OVERFLOW_MARK, -OVERFLOW_MARK))
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


def _field(path: tuple) -> str:
    """The name of the field a path ends in, an item of a list counting as its list."""
    return next((str(step).casefold() for step in reversed(path) if isinstance(step, str)), "")


def mutate(rng: random.Random) -> bytes:
    """One hostile body: a real alert with one to four changes, sometimes broken at the byte level."""
    source = rng.choice([*EXAMPLES, *PAYLOADS, None])
    doc = json.loads(source.read_text(encoding="utf-8")) if source else copy.deepcopy(SCHEDULED_EVENT)
    for _ in range(rng.randrange(1, 5)):
        targets = paths(doc)
        path = rng.choice(targets)
        action = rng.randrange(4)
        if action == 0:
            doc = _set(doc, path, odd_value(rng))
        elif action == 1 and path:
            doc = _delete(doc, path)
        elif action == 2 and isinstance(doc, dict):
            doc[f"extra{rng.randrange(100)}"] = odd_value(rng)
        elif keyed := [p for p in targets if p and _field(p) in TARGETED]:
            path = rng.choice(keyed)
            doc = _set(doc, path, rng.choice(TARGETED[_field(path)]))
    try:
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
        body = text.replace(repr(OVERFLOW_MARK), OVERFLOW).encode("utf-8", "surrogatepass")
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
