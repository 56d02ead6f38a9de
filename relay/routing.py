"""Which receivers get a notification, and which of its VMs each one gets. Knows nothing of channels.

The routing tree works like Alertmanager's: an item enters at the top route, tries its routes in order
and goes down the first that matches (and on to the next ones when that route says `continue`); where
no route below matches, the route's own receiver (inherited from above when it names none) takes it.
An item is one affected VM of the event, or the event itself when it affects no VM of ours, so one
maintenance becomes one notification per receiver listing only the VMs routed to it. An Azure Monitor
alert names no VM: it goes down once, on its severity, monitoring service, signal type and rule and on its
targets' subscriptions, resource groups and types. Last, each receiver drops the kinds and stages it does
not want.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from relay.model import AffectedVm, Event, EventKind, MonitorAlert, Notification, Receiver, ResourceRef, Vm

VM_TYPE = "Microsoft.Compute/virtualMachines"
FIELDS = ("subscription", "resource_group", "tag", "region", "service", "kind", "stage", "level",
          "severity", "monitoring_service", "signal_type", "alert_rule", "resource_type")


@dataclass(frozen=True)
class ReceiverFilter:
    """A receiver and what it wants: these kinds and stages (empty: every one)."""

    receiver: Receiver
    kinds: frozenset[EventKind] = frozenset()
    stages: frozenset[str] = frozenset()  # lowercase

    def wants(self, event: Event) -> bool:
        return ((not self.kinds or event.kind in self.kinds)
                and (not self.stages or (event.stage or "").lower() in self.stages))


@dataclass(frozen=True)
class Condition:
    """One field matched against patterns (any of them): exact text, or a regular expression."""

    field: str  # one of FIELDS
    patterns: tuple[re.Pattern, ...]
    tag: str = ""  # for field "tag": the tag's name

    def holds(self, values: tuple[str, ...]) -> bool:
        return any(p.fullmatch(v) for p in self.patterns for v in values)

    def met(self, item: dict[str, tuple[str, ...]]) -> bool:
        """Whether it holds for an item's values (values_of)."""
        return self.holds(item.get(f"tag:{self.tag}" if self.field == "tag" else self.field, ()))


@dataclass(frozen=True)
class Route:
    """A node of the routing tree: the conditions an item must meet, the receiver that takes it when no route
    below does, and the routes below, tried in order."""

    receiver: str | None = None  # None: the parent's
    conditions: tuple[Condition, ...] = ()  # all must hold
    routes: tuple[Route, ...] = ()
    continue_: bool = False


@dataclass(frozen=True)
class Routes:
    """The receivers, and the tree that picks among them."""

    receivers: tuple[ReceiverFilter, ...]
    tree: Route

    @classmethod
    def flat(cls, receivers: tuple[ReceiverFilter, ...]) -> Routes:
        """No tree in the config: every receiver gets every item, then keeps what its kinds and stages allow."""
        return cls(receivers, Route(routes=tuple(Route(r.receiver.name, continue_=True) for r in receivers)))

    def __iter__(self) -> Iterator[ReceiverFilter]:
        return iter(self.receivers)

    def __len__(self) -> int:
        return len(self.receivers)


def wanted(event: Event, routes: Routes) -> list[Receiver]:
    """The receivers that may get something of this event: known before its VMs are."""
    return [r.receiver for r in routes if r.wants(event)]


def split(notification: Notification, routes: Routes) -> list[tuple[Receiver, Notification]]:
    """Each receiver's notification, in config order: the whole one, or one with only its VMs."""
    event, vms = notification.event, notification.enriched.vms
    items: tuple[AffectedVm | None, ...] = vms or (None,)
    taken: dict[str, list[AffectedVm | None]] = {}
    for item in items:
        values = values_of(event, item.vm if item is not None else None)
        for name in dict.fromkeys(_walk(routes.tree, values, None) or ()):
            taken.setdefault(name, []).append(item)
    shares = []
    for chosen in routes:
        got = taken.get(chosen.receiver.name)
        if not got or not chosen.wants(event):
            continue
        if None in got or len(got) == len(vms):
            shares.append((chosen.receiver, notification))
        else:
            enriched = replace(notification.enriched, vms=tuple(vm for vm in got if vm is not None))
            shares.append((chosen.receiver, Notification(enriched, notification.prior, affected=len(vms))))
    return shares


def _walk(node: Route, values: dict[str, tuple[str, ...]], inherited: str | None) -> list[str] | None:
    """The receivers this route and those below it give the item to; None when the route does not match."""
    if not all(c.met(values) for c in node.conditions):
        return None
    receiver = node.receiver or inherited
    found: list[str] | None = None
    for child in node.routes:
        got = _walk(child, values, receiver)
        if got is None:
            continue
        found = (found or []) + got
        if not child.continue_:
            break
    if found is not None:
        return found
    return [receiver] if receiver else []


def values_of(event: Event, vm: Vm | None) -> dict[str, tuple[str, ...]]:
    """What the conditions (and silences' matchers) look at: the VM's own subscription, group, tags and region
    when there is a VM."""
    values = {
        "kind": (event.kind.value,),
        "tracking_id": (event.tracking_id,) if event.tracking_id else (),
        "stage": (event.stage,) if event.stage else (),
        "level": (event.level,) if event.level else (),
        "service": event.services,
        "region": tuple(region_key(r) for r in event.regions),
    }
    if vm is not None:
        values["subscription"] = (vm.subscription_id,)
        values["resource_group"] = (vm.resource_group,)
        values["resource_type"] = (VM_TYPE,)
        if vm.location:
            values["region"] = (region_key(vm.location),)
        values |= {f"tag:{name.lower()}": (value,) for name, value in vm.tags.items()}
    else:
        values["subscription"] = event.subscription_ids
        if event.resource is not None:
            resource = ResourceRef.parse(event.resource.resource_id)
            values["resource_group"] = (resource.group,) if resource.group else ()
            values["resource_type"] = (resource.type,) if resource.type else ()
        if event.alert is not None:
            values |= _alert_values(event.alert)
    return values


def _alert_values(alert: MonitorAlert) -> dict[str, tuple[str, ...]]:
    """An alert's own fields, and the groups and types of its targets."""
    targets = [ResourceRef.parse(target) for target in alert.targets]
    return {
        "severity": (alert.severity,) if alert.severity else (),
        "monitoring_service": (alert.service,) if alert.service else (),
        "signal_type": (alert.signal,) if alert.signal else (),
        "alert_rule": (alert.rule,) if alert.rule else (),
        "resource_group": tuple(dict.fromkeys(g for g in (alert.target_group, *(t.group for t in targets)) if g)),
        "resource_type": tuple(dict.fromkeys(t for t in (alert.target_type, *(t.type for t in targets)) if t)),
    }


def region_key(region: str) -> str:
    """"Japan East" and "japaneast" are one region."""
    return region.replace(" ", "").lower()
