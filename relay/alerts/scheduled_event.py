"""The agent's report of a Scheduled Event (relay/agent/wire.py) → Event. Parsing only, no I/O.

relay.alerts.parse_alert hands a body whose schemaId is `relay/scheduledEvent` to `read_scheduled_event`,
so the report takes the alerts' way through the inbox and the pipeline. As there, what makes the report
unusable is a *problem* (no VM name, no EventId, EventType or EventStatus; an id or a time no message could
carry), reported with its JSON path; a malformed optional field is a *warning* and read as unknown. The
event's fields are Azure's own (reference: Instance Metadata Service, api-version 2020-07-01):

    EventId, EventType (Freeze | Reboot | Redeploy | Preempt | Terminate), EventStatus (Scheduled | Started),
    Resources (VM names), NotBefore (RFC 1123, blank once started), DurationInSeconds (-1 unknown),
    Description, EventSource (Platform | User)
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from relay.agent.wire import SCHEMA_ID
from relay.alerts.document import Node, expecting, subscription_ids, unique
from relay.model import LATEST, TOO_LATE, Event, EventKind, ResourceHealthChange, ScheduledEvent, Window

EVENT_TYPES = ("Freeze", "Reboot", "Redeploy", "Preempt", "Terminate")
EVENT_STATUSES = ("Scheduled", "Started")
_CANONICAL = {name.casefold(): name for name in (*EVENT_TYPES, *EVENT_STATUSES)}


def is_scheduled_event(schema_id: object) -> bool:
    return isinstance(schema_id, str) and schema_id.strip().casefold() == SCHEMA_ID.casefold()


def read_scheduled_event(root: Node) -> Event | None:
    """The Event of a report, or None with the problems noted on `root.notes`."""
    data = root.child("data")
    vm = data.child("vm") if data is not None else None
    event = data.child("event") if data is not None else None
    name = _required(vm, "name", vm.text) if vm is not None else None
    event_id = _required(event, "EventId", event.identifier) if event is not None else None
    kind = _named(event, "EventType", EVENT_TYPES) if event is not None else None
    status = _named(event, "EventStatus", EVENT_STATUSES) if event is not None else None
    if data is None or vm is None or event is None:
        return None
    if name is None or event_id is None or kind is None or status is None:
        return None
    not_before = _not_before(event)
    duration = _duration(event)
    resource_id = vm.identifier("resourceId", resource=True)
    subscriptions = [(vm.at("resourceId"), resource_id)] if resource_id else []
    return Event(
        kind=EventKind.SCHEDULED,
        schema="scheduled",
        title=event.text("Description") or "",
        communication="",
        stage=status,
        subscription_ids=unique(subscription_ids(subscriptions, root.notes)),
        regions=unique([vm.text("location")]),
        window=_window(event, not_before, duration),
        event_time=data.time("observedAt"),
        resource=ResourceHealthChange(resource_id) if resource_id else None,
        scheduled=ScheduledEvent(
            event_id=event_id,
            type=kind,
            status=status,
            not_before=not_before,
            duration_seconds=duration,
            source=event.text("EventSource"),
            vms=_resources(event, name),
            reported_by=name,
        ),
    )


def _required(node: Node, key: str, read: Callable[[str], str | None]) -> str | None:
    """A required field as `read` reads it; a problem when it is blank, unless `read` noted one already."""
    noted = len(node.notes.problems)
    text = read(key)
    if text is None and len(node.notes.problems) == noted:
        node.notes.problem(node.at(key), expecting("a non-empty string", node.get(key) or None))
    return text


def _named(node: Node, key: str, known: tuple[str, ...]) -> str | None:
    """A required name, in Azure's spelling when known; an unknown one is kept as given, with a warning."""
    text = _required(node, key, node.text)
    if text is None:
        return None
    named = _CANONICAL.get(text.casefold())
    if named is None or named not in known:
        node.notes.warn(node.at(key), expecting(f"one of {', '.join(known)}", text) + "; kept as given")
        return text
    return named


def _not_before(event: Node) -> datetime | None:
    value = event.get("NotBefore")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # blank once the event has started
    try:
        when = parsedate_to_datetime(value) if isinstance(value, str) else None
        when = when.astimezone(UTC) if when is not None and when.tzinfo is not None else None
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: year 1 moved before year 1
        when = None
    if when is None:
        expected = "an RFC 1123 time such as Tue, 20 Jan 2026 15:20:00 GMT"
        event.notes.warn(event.at("NotBefore"), expecting(expected, value))
        return None
    return event.showable("NotBefore", when, value)


def _duration(event: Node) -> int | None:
    value = event.get("DurationInSeconds")
    if value is None or value == -1:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    event.notes.warn(event.at("DurationInSeconds"), expecting("a number of seconds, or -1 for unknown", value))
    return None


def _window(event: Node, not_before: datetime | None, duration: int | None) -> Window:
    if not_before is None or not duration:
        return Window(not_before, None)
    if timedelta(seconds=duration) >= LATEST - not_before:
        ends = f"the event ends {duration:,} seconds after NotBefore"
        event.notes.problem(event.at("DurationInSeconds"), f"{TOO_LATE}; {ends}")
        return Window(not_before, None)
    return Window(not_before, not_before + timedelta(seconds=duration))


def _resources(event: Node, reporter: str) -> tuple[str, ...]:
    """The VMs of the event; the reporting VM among them, even when Azure's list is missing or odd."""
    listed = [text for _, text in event.strings("Resources")]
    if not listed:
        event.notes.warn(event.at("Resources"), "missing or empty; the event is taken to be for the reporting VM")
    return unique([*listed, reporter])
