"""What every part of the config's checking shares: its error, the checks of names and ids, the words it
knows, values quoted briefly, and problems said with the key the writer most likely meant."""
from __future__ import annotations

import difflib
import re

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GUID = re.compile(r"^[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
STAGES = ("Planned", "Rescheduled", "InProgress", "Complete", "Canceled", "Active", "Resolved", "RCA", "Fired")
LEVELS = ("Critical", "Error", "Warning", "Informational")
SIGNAL_TYPES = ("Metric", "Log", "Activity Log")  # an alert's signalType


class ConfigError(ValueError):
    """The config is unusable; the message names the file and every problem. `problems` holds them one
    by one as "path: problem" (path like receivers[0].name) when they come from the config's content."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems


def shown(value: object) -> str:
    """A value as a problem quotes it: a word or a number as written (cut when long), a list or a mapping
    by its kind, so that a message never grows with what the file holds."""
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def unknown(mapping: dict, known: set[str], prefix: str, suffix: str = "") -> list[str]:
    """One problem per unknown key, with the known key it most likely means."""
    problems = []
    for key in sorted(set(mapping) - known, key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else f"write one of: {', '.join(sorted(known))}"
        problems.append(f"{prefix}{key}: unknown setting{suffix}; {hint}")
    return problems


def words(value: object, allowed: tuple[str, ...], where: str, problems: list[str]) -> tuple[str, ...]:
    """A word or a list of words from `allowed` (any case), spelled as in `allowed`."""
    if value is None:
        return ()
    words = [value] if isinstance(value, str) else value
    canonical = {a.lower(): a for a in allowed}
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        problems.append(f"{where}: a list of {', '.join(allowed)}")
        return ()
    for word in (w for w in words if w.lower() not in canonical):
        close = difflib.get_close_matches(word.lower(), canonical, n=1)
        hint = f"did you mean {canonical[close[0]]}?" if close else f"write one of: {', '.join(allowed)}"
        problems.append(f"{where}: {shown(word)} is unknown; {hint}")
    return tuple(canonical[w.lower()] for w in words if w.lower() in canonical)
