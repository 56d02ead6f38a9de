"""Which receivers get a notification. Only routes; knows nothing of channels or rendering."""
from __future__ import annotations

from .config import Route
from .model import Event, Receiver


def route(event: Event, routes: tuple[Route, ...]) -> list[Receiver]:
    return [r.receiver for r in routes if not r.kinds or event.kind in r.kinds]
