"""A loopback Instance Metadata Service for the Scheduled Events agent: one VM's view of its events.

    with ImdsEmulator("vm-web-01") as imds:            # serves imds.url like http://169.254.169.254
        event_id = imds.add("Reboot", not_before=now + timedelta(minutes=15))
        imds.change(event_id, not_before=...)          # DocumentIncarnation goes up on every change
        imds.start(event_id)                           # Started, NotBefore blank
        imds.remove(event_id)                          # over: it disappears
        imds.approvals                                 # EventIds approved with StartRequests

It answers like the service: 400 without `Metadata: true` or without api-version; GET
/metadata/scheduledevents (the document), POST it with {"StartRequests": [{"EventId": …}]} (200 for known
ids, even again; 400 for a malformed body or an unknown id); GET /metadata/instance/compute (name,
resourceId, location). Faults: `imds.server.fail_next(…)`.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from email.utils import format_datetime

from tests.sinks.server import LoopbackServer, Reply, Request, Sink

SUBSCRIPTION = "0a1b2c3d-1111-2222-3333-444455556666"


def _error(message: str) -> Reply:
    return Reply(400, {"error": message})


class ImdsEmulator(Sink):
    def __init__(self, vm_name: str = "vm-web-01", resource_group: str = "rg-web", location: str = "japaneast"):
        self.vm_name, self.location = vm_name, location
        self.resource_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resource_group}"
                            f"/providers/Microsoft.Compute/virtualMachines/{vm_name}")
        self.server = LoopbackServer(self._route)
        self.url = self.server.url
        self.incarnation = 1
        self.events: dict[str, dict] = {}
        self.approvals: list[str] = []
        self._lock = threading.Lock()

    # -- the test's controls ------------------------------------------------------------------------------

    def add(self, event_type: str = "Reboot", *, not_before: datetime | None, resources: tuple[str, ...] | None = None,
            event_id: str | None = None, duration: int = -1, source: str = "Platform",
            description: str = "Host server is undergoing maintenance.") -> str:
        event_id = event_id or str(uuid.uuid4()).upper()
        event = {"EventId": event_id, "EventType": event_type, "ResourceType": "VirtualMachine",
                 "Resources": list(resources or (self.vm_name,)), "EventStatus": "Scheduled",
                 "NotBefore": _rfc1123(not_before), "Description": description, "EventSource": source,
                 "DurationInSeconds": duration}
        with self._lock:
            self.events[event_id] = event
            self.incarnation += 1
        return event_id

    def change(self, event_id: str, *, not_before: datetime | None = None, **fields) -> None:
        with self._lock:
            if not_before is not None:
                fields["NotBefore"] = _rfc1123(not_before)
            self.events[event_id].update(fields)
            self.incarnation += 1

    def start(self, event_id: str) -> None:
        self.change(event_id, EventStatus="Started", NotBefore="")

    def remove(self, event_id: str) -> None:
        with self._lock:
            del self.events[event_id]
            self.incarnation += 1

    # -- the service ----------------------------------------------------------------------------------------

    def _route(self, request: Request) -> Reply:
        if request.headers.get("metadata", "").lower() != "true":
            return _error("Bad request. Required metadata header not specified")
        if not request.query.get("api-version"):
            return _error("Bad request. api-version was not specified in the request.")
        if request.path == "/metadata/instance/compute" and request.method == "GET":
            return Reply(200, {"name": self.vm_name, "resourceId": self.resource_id, "location": self.location,
                               "vmSize": "Standard_D2s_v5"})
        if request.path != "/metadata/scheduledevents":
            return Reply(404, {"error": "Not found"})
        with self._lock:
            if request.method == "GET":
                return Reply(200, {"DocumentIncarnation": self.incarnation,
                                   "Events": [dict(e) for e in self.events.values()]})
            if request.method == "POST":
                return self._approve(request)
        return Reply(405, {"error": "Method not allowed"})

    def _approve(self, request: Request) -> Reply:
        try:
            ids = [item["EventId"] for item in json.loads(request.body)["StartRequests"]]
        except (ValueError, KeyError, TypeError):
            return _error("Bad request. Malformed StartRequests.")
        if not ids or any(i not in self.events for i in ids):
            return _error("Bad request. Unknown EventId.")
        self.approvals += ids
        return Reply(200, b"")


def _rfc1123(when: datetime | None) -> str:
    return format_datetime(when, usegmt=True) if when else ""
