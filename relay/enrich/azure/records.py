"""Resource Graph `maintenanceresources`: each VM's maintenance record, a thousand VMs a page, where the
instance view costs one Compute call a VM.

A record (type microsoft.maintenance/updates) is named by the resource it is for, and `properties.value`
lists that resource's updates. The update of a planned maintenance has maintenanceScope Host, and either
its notificationId is the event's trackingId or its properties.plannedMaintenanceId is the alert's
maintenanceId: Microsoft's "Azure Resource Graph sample queries for Impacted resources" join on each
(planned maintenance queries 1 and 2). The query asks for both, so a record that carries only one is found.

What a record says, as the instance view would say it (docs/configure.md tells which of it Microsoft
documents and which is our reading):
    status            Pending: maintenance can be started now; RetryNow, RetryLater: an attempt did not
                      succeed, and it can be retried now / later; Completed: already updated;
                      NoUpdatesPending: not part of this wave
    notBefore         "when Azure will start force updates if not self-updated by customer before this
                      time": the self-service deadline, and the start of Azure's scheduled window
    endTimeUtc        the end of Azure's scheduled window
A record answers for its VM only when it says all a message needs: a status above, and both times for a VM
that can still be maintained or retried. Any other (InProgress, a status of a maintenance configuration, a
time missing or unreadable) leaves the VM to its instance view. `Book` holds one lookup's records as their
pages come in.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from relay.enrich.azure.graph import pages
from relay.model import RedeployStatus, Window

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a trackingId or maintenanceId, safe in the query text

_QUERY = """\
maintenanceresources
| where type =~ 'microsoft.maintenance/updates'
| mv-expand entry = properties.value
| where tostring(entry.maintenanceScope) =~ 'Host'
| where tostring(entry.notificationId) =~ '{tracking_id}'{or_maintenance_id}
| project id, targetId = tolower(name),
          status = coalesce(tostring(entry.status), tostring(entry.properties.plannedMaintenanceStatus)),
          notBefore = tostring(entry.notBefore), endTimeUtc = tostring(entry.endTimeUtc)
| order by id asc"""
_OR_MAINTENANCE_ID = "\n     or tostring(entry.properties.plannedMaintenanceId) =~ '{maintenance_id}'"

# status (lower case) → (isCustomerInitiatedMaintenanceAllowed, the last result as the record words it, needs the times)
_STATUSES = {
    "pending": (True, None, True),
    "retrynow": (True, "RetryNow", True),
    "retrylater": (False, "RetryLater", True),
    "completed": (False, "Completed", False),
}
NOT_IN_WAVE = "noupdatespending"


def query(tracking_id: str, maintenance_id: str | None = None) -> str:
    """The records of one planned maintenance (both ids are checked: they go into the query text)."""
    for value in (tracking_id, maintenance_id):
        if value is not None and not ID.match(value):
            raise ValueError(f"not a maintenance id: {value!r}")
    extra = _OR_MAINTENANCE_ID.format(maintenance_id=maintenance_id.lower()) if maintenance_id else ""
    return _QUERY.format(tracking_id=tracking_id.lower(), or_maintenance_id=extra)


def record_rows(azure, tracking_id: str, maintenance_id: str | None,
                subscriptions: list[str] | None) -> AsyncIterator[list[dict]]:
    """Pages of rows (id, targetId, status, notBefore, endTimeUtc)."""
    return pages(azure, query(tracking_id, maintenance_id), subscriptions)


def answer(row: dict) -> tuple[bool, RedeployStatus | None]:
    """(whether the record answers for its VM, the maintenanceRedeployStatus it stands for: None when the VM
    is not part of the wave)."""
    status = str(row.get("status") or "").lower()
    if status == NOT_IN_WAVE:
        return True, None
    if status not in _STATUSES:
        return False, None
    allowed, result, needs_times = _STATUSES[status]
    not_before, end = _time(row.get("notBefore")), _time(row.get("endTimeUtc"))
    if needs_times and (not_before is None or end is None):
        return False, None
    return True, RedeployStatus(customer_initiated_allowed=allowed, self_service=Window(end=not_before),
                                scheduled=Window(not_before, end), last_result=result)


class Book:
    """The records of one lookup as their pages come in: what each VM's says, and whether all are in."""

    def __init__(self):
        self.answers: dict[str, tuple[bool, RedeployStatus | None]] = {}  # by the VM's id key
        self.complete = False  # every page is in, or no more will come
        self.pages = 0
        self._moved = asyncio.Condition()

    def add(self, key: str, row: dict) -> None:
        if not self.answers.get(key, (False, None))[0]:  # of two updates of the maintenance, one that answers
            self.answers[key] = answer(row)

    def answer_for(self, key: str) -> tuple[bool, RedeployStatus | None] | None:
        """What the VM's record answers (see `answer`); (False, None) when it has none; None while it may come."""
        if key in self.answers:
            return self.answers[key]
        return (False, None) if self.complete else None

    async def turned(self, *, last: bool = False) -> None:
        """A page is in (`last`: or none will come)."""
        async with self._moved:
            self.complete = self.complete or last
            self.pages += 0 if last else 1
            self._moved.notify_all()

    async def past(self, page: int) -> None:
        """Wait until page `page` is in, or the records are."""
        async with self._moved:
            await self._moved.wait_for(lambda: self.complete or self.pages >= page)


def _time(value) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value or "").strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
