"""The final table (a row per subscription and resource) and the summary line. Pure."""
from __future__ import annotations

from collections import Counter

from relay.provision import Outcome
from relay.provision.plan import CREATE, UNCHANGED, UPDATE, Change
from relay.provision.wanted import Options, resources

COLUMNS = ("SUBSCRIPTION", "RESOURCE", "NAME", "RESULT")
_DONE = {CREATE: "created", UPDATE: "updated"}


def table(outcomes: list[Outcome], options: Options, dry_run: bool) -> str:
    rows = [COLUMNS]
    for outcome in outcomes:
        changes = {change.resource.kind: change for change in outcome.changes}
        for resource in resources(options, outcome.subscription):
            rows.append((outcome.subscription, resource.kind, resource.name,
                         _result(outcome, changes.get(resource.kind), resource.kind, dry_run)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows)


def _result(outcome: Outcome, change: Change | None, kind: str, dry_run: bool) -> str:
    if outcome.failed == kind:
        return "failed"
    if change is None:
        return "not read"
    if dry_run or change.action == UNCHANGED:
        return change.describe()
    if kind not in outcome.applied:
        return f"not done ({change.describe()})"
    fields = f": {', '.join(change.fields)}" if change.fields else ""
    return _DONE[change.action] + fields


def summary(outcomes: list[Outcome], dry_run: bool) -> str:
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        for change in outcome.changes:
            if dry_run or change.action == UNCHANGED or change.resource.kind in outcome.applied:
                counts[change.action] += 1
    failed = sum(outcome.error is not None for outcome in outcomes)
    verbs = ("to create", "to update") if dry_run else ("created", "updated")
    return (f"provision{' (dry run, nothing changed)' if dry_run else ''}: {counts[CREATE]} {verbs[0]},"
            f" {counts[UPDATE]} {verbs[1]}, {counts[UNCHANGED]} unchanged;"
            f" {failed} of {len(outcomes)} subscription(s) failed")
