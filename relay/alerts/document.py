"""Alert bodies as JSON: bytes → one JSON object (bounded in size and depth, its numbers finite, every failure a
Problem with its JSON path), and a Node that reads its fields, noting a *problem* (the alert is unusable) or a
*warning* (the field is read as unknown) with the path of each. Shared by every wire format in this package.

What the pipeline keys, names files by or shows is checked here, so that an alert the intake takes can be
delivered: ids are printable and bounded, and dates fall within the years a message can show."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, AnyStr, NoReturn

from relay.model import unshowable
from relay.text import html_to_text, looks_like_html, one_line

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64

_GUID = r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"
_SUBSCRIPTION_ID = re.compile(_GUID, re.I)
_SUBSCRIPTION_SCOPE = re.compile(rf"/subscriptions/({_GUID})(?:/|$)", re.I)
# Azure writes 0–7 fraction digits and Z, an offset, or no zone at all (read as UTC).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?\s*(Z|[+-]\d\d:?\d\d)?", re.I | re.ASCII
)
# A string is skipped whole (an unterminated one runs to the end); brackets are counted.
_JSON_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?'
_JSON_TOKEN = re.compile(rf"{_JSON_STRING}|[\[\]{{}}]", re.S)

# Azure's ids are far shorter (a trackingId is XXXX-XXX, a communicationId digits, the others GUIDs); ids key the
# ledger and name files. A resource id is a path of names: longer, and '/' is its separator.
ID_CHARS, RESOURCE_ID_CHARS = 128, 1024


@dataclass(frozen=True)
class Problem:
    path: str  # JSON path, e.g. "$.data.essentials"
    message: str  # what was wrong and what was expected

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadError(ValueError):
    """The body is not an alert we can relay. `problems` lists every problem found, each with its JSON path."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, too_large: bool = False) -> None:
        self.problems = tuple(problems)
        self.too_large = too_large  # the HTTP layer answers 413
        super().__init__("; ".join(map(str, self.problems)))


def parse_timestamp(text: str) -> datetime | None:
    """An Azure timestamp as aware UTC; None when it is not one."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups()[:6])
    micro = int((match[7] or "").ljust(6, "0")[:6])
    zone = (match[8] or "Z").upper().replace(":", "")
    sign = -1 if zone[0] == "-" else 1
    try:
        offset = timedelta() if zone == "Z" else sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:]))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset)).astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, offset of a day or more, year 1 moved before year 1
        return None


# ---------------------------------------------------------------------------------------------------------------
# Bytes → JSON object


def load_document(raw: bytes | str) -> dict[str, Any]:
    doc, error = load_json(_decode(raw))
    if error:
        _reject(error)
    if not isinstance(doc, dict):
        _reject(expecting("a JSON object at the top level", doc))
    return doc


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        size = len(raw) if len(raw) > MAX_BYTES else len(raw.encode("utf-8", "surrogatepass"))
    elif isinstance(raw, (bytes, bytearray)):
        size = len(raw)
    else:
        _reject(f"expected the body as bytes or text, got {type(raw).__name__}")
    if size > MAX_BYTES:
        _reject(f"the body is larger than the {MAX_BYTES} bytes accepted", too_large=True)
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return bytes(raw).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, column = _line_column(bytes(raw), exc.start, b"\n")
        _reject(f"not valid UTF-8 at line {line}, column {column} (byte {exc.start})")


def _reject(message: str, *, too_large: bool = False) -> NoReturn:
    """The whole body is unreadable: one problem, at the top."""
    raise PayloadError([Problem("$", message)], too_large=too_large) from None


def load_json(text: str) -> tuple[Any, str | None]:
    """(value, None), or (None, what is wrong). Depth is checked first: deep nesting makes json recurse."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        if token.group() in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _line_column(text, token.start(), "\n")
                return None, f"nested deeper than {MAX_DEPTH} levels at line {line}, column {column}"
        elif token.group() in ("]", "}"):
            depth -= 1
    try:
        return json.loads(text, parse_constant=_not_finite, parse_float=_finite), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except _NotFinite as exc:
        line, column = _line_column(text, _number_at(text, exc.literal), "\n")
        return None, f"the number {exc.literal[:30]} at line {line}, column {column} is not finite"
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        return None, f"not valid JSON: {exc}"


class _NotFinite(ValueError):
    """json reads 1e999999 as infinity, and takes Infinity and NaN, none of which a message can show."""

    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _NotFinite(literal)
    return value


def _not_finite(literal: str) -> NoReturn:
    raise _NotFinite(literal)


def _number_at(text: str, literal: str) -> int:
    """Where the literal first stands outside a string: json reads in order and stops at the first."""
    for token in re.finditer(rf"{_JSON_STRING}|{re.escape(literal)}", text, re.S):
        if not token.group().startswith('"'):
            return token.start()
    return 0


def _line_column(text: AnyStr, offset: int, newline: AnyStr) -> tuple[int, int]:
    return text.count(newline, 0, offset) + 1, offset - text.rfind(newline, 0, offset)


# ---------------------------------------------------------------------------------------------------------------
# Reading fields


class Notes:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(str(Problem(path, message)))


class Node:
    """A JSON object with its path. Keys match case-insensitively (Azure writes both alertRuleID and alertRuleId)."""

    def __init__(self, value: dict[str, Any], path: str, notes: Notes) -> None:
        self.value, self.path, self.notes = value, path, notes
        self._folded: dict[str, str] | None = None

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str) -> Any:
        if key in self.value:
            return self.value[key]
        if self._folded is None:
            self._folded = {k.casefold(): k for k in self.value}
        actual = self._folded.get(key.casefold())
        return None if actual is None else self.value[actual]

    def child(self, key: str) -> Node | None:
        """A required object; a problem when it is missing or not an object."""
        value = self.get(key)
        if isinstance(value, dict):
            return Node(value, self.at(key), self.notes)
        self.notes.problem(self.at(key), expecting("an object", value))
        return None

    def optional_object(self, key: str) -> Node | None:
        """An optional object; a warning when it is there but is not one."""
        value = self.get(key)
        if isinstance(value, dict):
            return Node(value, self.at(key), self.notes)
        if value is not None:
            self.notes.warn(self.at(key), expecting("an object", value))
        return None

    def text(self, key: str) -> str | None:
        """An optional one-line string; a number is taken as its text, anything else is a warning."""
        return one_line(self.string(key) or "") or None

    def identifier(self, key: str, *, resource: bool = False) -> str | None:
        """An optional id (see `identifier`)."""
        return identifier(self.string(key), self.at(key), self.notes, resource=resource)

    def html(self, key: str) -> str | None:
        """An optional string of HTML (or plain text), as plain text."""
        return html_to_text(self.string(key) or "") or None

    def communication(self) -> tuple[str, str]:
        """Azure's message as plain text, and as the HTML it came in ("" when it is plain text): the
        `communication`, else the `defaultLanguageContent`."""
        for key in ("communication", "defaultLanguageContent"):
            raw = self.string(key) or ""
            if text := html_to_text(raw):
                return text, raw if looks_like_html(raw) else ""
        return "", ""

    def time(self, key: str) -> datetime | None:
        value = self.get(key)
        if value is None or value == "":
            return None
        when = parse_timestamp(value) if isinstance(value, str) else None
        if when is None:
            self.notes.warn(self.at(key), expecting("an ISO 8601 time such as 2027-01-06T00:00:00Z", value))
            return None
        return self.showable(key, when, value)

    def showable(self, key: str, when: datetime, value: Any) -> datetime | None:
        """The time read from `value`, if a message can show it; else None, with a problem."""
        if (why := unshowable(when)) is None:
            return when
        self.notes.problem(self.at(key), f"{why}; got {_describe(value)}")
        return None

    def objects(self, key: str) -> list[Node]:
        """The objects of an optional list; a warning for the list or any item of another type."""
        return [Node(item, path, self.notes) for path, item in self._items(key, dict, "an object")]

    def strings(self, key: str) -> list[tuple[str, str]]:
        """(path, text) for each string of an optional list."""
        return self._items(key, str, "a string")

    def string(self, key: str) -> str | None:
        """An optional string as given; a number is taken as its text, anything else is a warning."""
        value = self.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if value is None or isinstance(value, str):
            return value
        self.notes.warn(self.at(key), expecting("a string", value))
        return None

    def _items(self, key: str, kind: type, what: str) -> list[tuple[str, Any]]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.notes.warn(self.at(key), expecting("a list", value))
            return []
        items = []
        for i, item in enumerate(value):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, kind):
                items.append((path, item))
            elif item is not None:
                self.notes.warn(path, expecting(what, item))
        return items


def expecting(what: str, value: Any) -> str:
    return f"missing; expected {what}" if value is None else f"expected {what}, got {_describe(value)}"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "…")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {str(value)[:30]}"
    return "a list" if isinstance(value, list) else "an object"


def identifier(value: str | None, path: str, notes: Notes, *, resource: bool = False) -> str | None:
    """An optional id, when it is one line of printable text of at most ID_CHARS characters without '/', which
    joins ids into the ledger's keys; a resource id may hold RESOURCE_ID_CHARS and '/'. Anything else is a
    problem: an id changed to fit would thread or deduplicate the alert with another."""
    text = (value or "").strip()
    limit = RESOURCE_ID_CHARS if resource else ID_CHARS
    if len(text) > limit:
        notes.problem(path, f"expected an id of at most {limit} characters, got {len(text):,}")
        return None
    for i, char in enumerate(text):
        if not char.isprintable():
            notes.problem(path, f"expected an id of printable characters, got U+{ord(char):04X} at character {i + 1}")
            return None
        if char == "/" and not resource:
            notes.problem(path, f"expected an id without '/', got one at character {i + 1}")
            return None
    return text or None


def subscription_ids(candidates: list[tuple[str, str]], notes: Notes) -> list[str]:
    """Lower-case subscription ids, from bare ids or from ids that start with /subscriptions/<id>."""
    found = []
    for path, text in candidates:
        text = text.strip()
        if scope := _SUBSCRIPTION_SCOPE.match(text):
            found.append(scope.group(1).lower())
        elif _SUBSCRIPTION_ID.fullmatch(text):
            found.append(text.lower())
        elif not text.startswith("/"):  # other resource and scope ids just name no subscription
            notes.warn(path, expecting("a subscription id (a GUID)", text))
    return found


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Without blanks and repeats (ignoring case), first spelling and order kept."""
    seen: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return tuple(seen.values())
