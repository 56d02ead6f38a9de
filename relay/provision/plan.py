"""What is wanted against what exists: create, update (which fields) or leave unchanged. Pure, no I/O.

Only the fields the relay sets are compared: ARM answers with more (ids, provisioning state, empty
receiver lists, defaults), and a field someone else set, such as an email receiver added in the
portal, is kept by the update, which PUTs what exists with the relay's fields put over it.
"""
from __future__ import annotations

from dataclasses import dataclass

from relay.provision.wanted import Resource

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
_CASELESS = {"location", "actionGroupId", "scopes"}  # ARM ids and locations: any letter case


@dataclass(frozen=True)
class Change:
    resource: Resource
    action: str
    fields: tuple[str, ...] = ()  # that differ, for an update
    body: dict | None = None  # what to PUT; None when unchanged

    def describe(self) -> str:
        return f"{self.action}: {', '.join(self.fields)}" if self.fields else self.action


def compare(resource: Resource, existing: dict | None) -> Change:
    if existing is None:
        return Change(resource, CREATE, body=resource.body)
    if resource.create_only:
        return Change(resource, UNCHANGED)
    fields = differences(resource.body, existing)
    if not fields:
        return Change(resource, UNCHANGED)
    return Change(resource, UPDATE, tuple(f.removeprefix("properties.") for f in fields),
                  merged(resource.body, existing))


def differences(wanted, existing, path: str = "", key: str = "") -> list[str]:
    """The paths (`properties.condition.allOf[3].containsAny`) where `existing` lacks what `wanted` has.
    A list differs as a whole when its length does."""
    if isinstance(wanted, dict):
        if not isinstance(existing, dict):
            return [path]
        return [found for k, value in wanted.items()
                for found in differences(value, existing.get(k), f"{path}.{k}" if path else k, k)]
    if isinstance(wanted, list):
        if not isinstance(existing, list) or len(existing) != len(wanted):
            return [path]
        return [found for i, (w, e) in enumerate(zip(wanted, existing, strict=True))
                for found in differences(w, e, f"{path}[{i}]", key)]
    if key in _CASELESS and isinstance(wanted, str) and isinstance(existing, str):
        return [] if wanted.lower() == existing.lower() else [path]
    return [] if wanted == existing else [path]


def merged(wanted: dict, existing: dict) -> dict:
    """`existing` with every field of `wanted` put over it (lists replaced whole)."""
    body = dict(existing)
    for k, value in wanted.items():
        body[k] = merged(value, existing[k]) if isinstance(value, dict) and isinstance(existing.get(k), dict) else value
    return body
