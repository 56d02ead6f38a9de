"""The Instance Metadata Service as the agent uses it: who this VM is, its Scheduled Events, and StartRequests.

Every call sends `Metadata: true` (the service answers 400 without it) and bypasses any proxy: the address is
link-local and only the VM itself can reach it.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from relay.agent.bounded import Unreadable, read_json

DEFAULT_URL = "http://169.254.169.254"
EVENTS_API = "2020-07-01"
INSTANCE_API = "2021-02-01"
TIMEOUT_SECONDS = 5.0
FIRST_CALL_SECONDS = 120.0  # the first call of a VM turns the service on and may take up to two minutes
# A Scheduled Events document is a few KB (an event lists at most the VMs of one availability set or scale-set
# placement group); a larger answer is broken, and is refused rather than read into memory.
MAX_ANSWER_BYTES = 1024 * 1024

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ImdsError(RuntimeError):
    """The service could not be asked, or answered something unusable; the text says which, plainly."""


class Imds:
    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def instance(self) -> dict:
        """This VM: name, resourceId and location, from /metadata/instance/compute."""
        compute = self._call("GET", f"/metadata/instance/compute?api-version={INSTANCE_API}")
        if not isinstance(compute, dict) or not isinstance(compute.get("name"), str) or not compute["name"]:
            raise ImdsError("the instance metadata has no VM name")
        return {key: compute[key] for key in ("name", "resourceId", "location") if isinstance(compute.get(key), str)}

    def scheduled_events(self, timeout: float | None = None) -> tuple[int | None, list[dict]]:
        """(DocumentIncarnation, Events) as the service has them now."""
        document = self._call("GET", f"/metadata/scheduledevents?api-version={EVENTS_API}", timeout=timeout)
        events = document.get("Events") if isinstance(document, dict) else None
        if not isinstance(events, list):
            raise ImdsError("the Scheduled Events document has no Events list")
        incarnation = document.get("DocumentIncarnation")
        return (incarnation if isinstance(incarnation, int) else None), [e for e in events if isinstance(e, dict)]

    def approve(self, event_id: str) -> None:
        """StartRequests for one event: Azure may start it now (for every VM the event names)."""
        self._call("POST", f"/metadata/scheduledevents?api-version={EVENTS_API}",
                   {"StartRequests": [{"EventId": event_id}]})

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers={"Metadata": "true"})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        call = f"{method} {path.split('?')[0]}"
        try:
            with _DIRECT.open(request, timeout=timeout or self.timeout) as response:
                return read_json(response, MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as e:
            raise ImdsError(f"{call} answered {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ImdsError(f"{call} failed: {getattr(e, 'reason', e)}") from None
        except Unreadable as e:
            raise ImdsError(f"{call} answered {e}") from None
