"""`relay vms TRACKING_ID`: the affected VMs of a maintenance, asked of Azure, for operators.

Prints one row a VM, most urgent first — name, resource group, subscription, maintenance state,
self-service deadline and scheduled window in JST, risks — as a table, JSON or CSV on stdout, while
a progress line on stderr says what it is waiting for. What Azure could not tell is said on stderr,
and the exit status is then 1.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from relay.config import AzureSettings
from relay.enrich import Gap
from relay.enrich.azure import AzureVmSource
from relay.enrich.state import assess, by_urgency
from relay.model import AffectedVm, Window
from relay.render.times import to_jst

COLUMNS = ("name", "resource group", "subscription", "state", "self-service deadline (JST)",
           "scheduled window (JST)", "risks")
STATE_NAMES = {"start_now": "Start now", "retry_now": "Retry now", "scheduled": "Scheduled", "retry_later": "Retry later",
               "already_updated": "Already updated", "unknown": "Unknown (stopped, deallocated)", "none": "-"}


def lookup(tracking_id: str, settings: AzureSettings, subscriptions: tuple[str, ...], now: datetime,
           progress: Callable[[str], None]) -> tuple[tuple[AffectedVm, ...], tuple[Gap, ...]]:
    """The affected VMs, most urgent first, and the gaps. Without any subscription, the whole tenant."""
    if not subscriptions and not settings.subscriptions and not settings.tenant_wide:
        progress("no subscription given: searching every subscription this identity can read")
        settings = replace(settings, tenant_wide=True)
    found = AzureVmSource(settings, progress=progress).lookup(tracking_id, subscriptions)
    return by_urgency([assess(vm, now) for vm in found.vms]), tuple(Gap.parse(g) for g in found.gaps)


def rows(vms: tuple[AffectedVm, ...]) -> list[dict]:
    return [
        {
            "name": a.vm.name,
            "resource group": a.vm.resource_group,
            "subscription": a.vm.subscription_id,
            "state": STATE_NAMES.get(a.state.value, a.state.value),
            "self-service deadline (JST)": jst_minute(a.self_service_deadline),
            "scheduled window (JST)": _window(a.vm.redeploy.scheduled if a.vm.redeploy else None),
            "risks": ", ".join(r.value.replace("_", " ") for r in a.risks),
        }
        for a in vms
    ]


def as_json(vms: tuple[AffectedVm, ...], gaps: tuple[Gap, ...]) -> str:
    def iso(when: datetime | None) -> str | None:
        return to_jst(when).isoformat(timespec="minutes") if when else None

    items = [
        {
            "id": a.vm.id, "name": a.vm.name, "resourceGroup": a.vm.resource_group,
            "subscriptionId": a.vm.subscription_id, "location": a.vm.location, "powerState": a.vm.power_state,
            "state": a.state.value, "stateSource": a.vm.state_source, "selfServiceDeadline": iso(a.self_service_deadline),
            "selfServiceWindow": _window_json(a.vm.redeploy.self_service if a.vm.redeploy else None, iso),
            "scheduledWindow": _window_json(a.vm.redeploy.scheduled if a.vm.redeploy else None, iso),
            "risks": [r.value for r in a.risks],
        }
        for a in vms
    ]
    return json.dumps({"vms": items, "incomplete": [g._asdict() for g in gaps]}, ensure_ascii=False, indent=2)


def as_csv(vms: tuple[AffectedVm, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(vms))
    return out.getvalue()


def as_table(vms: tuple[AffectedVm, ...]) -> str:
    return text_table(COLUMNS, rows(vms)) + "\n"


def text_table(columns: tuple[str, ...], rows: list[dict]) -> str:
    """Columns padded to their widest cell, a header line first."""
    every = [{c: c for c in columns}, *rows]
    widths = {c: max(len(row[c]) for row in every) for c in columns}
    return "\n".join("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip() for row in every)


def gap_line(gap: Gap) -> str:
    """The gap as the messages say it, in English."""
    from relay.render.markup import macros

    return "incomplete: " + str(macros("text", "common/text.j2").gap(gap, "en"))


class Progress:
    """The progress line on stderr: rewritten in place on a terminal, one line each otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.width = 0

    def __call__(self, line: str) -> None:
        if self.live:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def jst_minute(when: datetime | None) -> str:
    return f"{to_jst(when):%Y-%m-%d %H:%M}" if when else "-"


def _window(window: Window | None) -> str:
    if window is None or not (window.start or window.end):
        return "-"
    start, end = jst_minute(window.start), jst_minute(window.end)
    if window.start and window.end and start[:10] == end[:10]:
        end = end[11:]
    return f"{start} – {end}"


def _window_json(window: Window | None, iso) -> dict | None:
    return {"start": iso(window.start), "end": iso(window.end)} if window and (window.start or window.end) else None
