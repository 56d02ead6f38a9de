"""Wiring: builds a Relay (ledger, VM source, channels) from the config and command-line overrides."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .channels import channel_for
from .config import Config
from .enrich.inventory import Inventory
from .model import Event, Vm
from .pipeline import Relay
from .store.sqlite import SqliteLedger


class NoInventory:
    """The VM source when none is configured: events are relayed without a VM list."""

    def affected_vms(self, event: Event) -> tuple[list[Vm], str]:
        return [], "no inventory"


@dataclass(frozen=True)
class Paths:
    """Where this run reads and writes; each one overrides the config's."""

    inventory: Path | None = None
    ledger: Path | None = None
    outbox: Path | None = None


def open_relay(config: Config, paths: Paths = Paths(), now: datetime | None = None) -> Relay:
    outbox = paths.outbox or config.outbox
    inventory = paths.inventory or config.inventory
    vms = Inventory.load(inventory) if inventory else NoInventory()
    channels = {route.receiver.name: channel_for(route.receiver, outbox) for route in config.routes}
    relay = Relay(
        ledger=SqliteLedger(paths.ledger or config.ledger),
        vms=vms,
        routes=config.routes,
        channel_for=lambda receiver: channels[receiver.name],
    )
    if now is not None:
        relay.clock = lambda: now
    return relay


def from_environment(environ: dict[str, str]) -> Relay:
    """The Relay of a Function App: RELAY_CONFIG (YAML path), RELAY_INVENTORY, RELAY_LEDGER, RELAY_OUTBOX."""
    from .config import default_config, load_config

    config = load_config(environ["RELAY_CONFIG"]) if environ.get("RELAY_CONFIG") else default_config()
    paths = Paths(
        inventory=Path(environ["RELAY_INVENTORY"]) if environ.get("RELAY_INVENTORY") else None,
        ledger=Path(environ["RELAY_LEDGER"]) if environ.get("RELAY_LEDGER") else None,
        outbox=Path(environ["RELAY_OUTBOX"]) if environ.get("RELAY_OUTBOX") else None,
    )
    return open_relay(config, paths)
