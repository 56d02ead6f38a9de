"""Wiring: builds a Relay (ledger, VM source, channels) and an inbox from the config, the environment and
command-line overrides. Only the hosts' composition roots use it: relay.hosts.function (the Function App)
and the commands in relay.cli; everything below them is handed what it needs."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from relay.channels import channel_for
from relay.config import Config, default_config
from relay.enrich import NoInventory, VmSource
from relay.enrich.inventory import Inventory
from relay.pipeline import Relay
from relay.runtime import connections
from relay.store import Ledger
from relay.store.sqlite import SqliteLedger


def vm_source(config: Config, inventory: Path | None = None) -> VmSource:
    """The inventory file (`inventory` overrides the config's); else Azure when the config has an `azure:`
    section; else no VM list. The Azure SDKs load on the first lookup, not before: loading them in the
    background while a lookup imports them too can leave a module half-loaded."""
    if path := inventory or config.inventory:
        return Inventory.load(path)
    if config.azure is None:
        return NoInventory()
    from relay.enrich.azure import AzureVmSource

    return AzureVmSource(config.azure)


TABLES = "RELAY_TABLES_CONNECTION"


def open_ledger(path: Path, environ: Mapping[str, str]) -> Ledger:
    """Table Storage when RELAY_TABLES_CONNECTION holds a connection string, or names the account as an
    identity-based connection (RELAY_TABLES_CONNECTION__tableServiceUri, __credential, __clientId);
    RELAY_TABLE: the table, default relayledger. Else the SQLite file."""
    if not connections.configured(environ, TABLES, "table"):
        return SqliteLedger(path)
    from relay.store.tables import TableLedger

    table = environ.get("RELAY_TABLE", "relayledger")
    if environ.get(TABLES):
        return TableLedger.from_connection_string(environ[TABLES], table=table)
    return TableLedger.from_endpoint(connections.account_url(environ, TABLES, "table"),
                                     connections.credential(environ, TABLES), table=table)


LOCAL_INBOX = Path(".relay/inbox.sqlite")


def open_inbox(path: Path | None, environ: Mapping[str, str]):
    """The inbox a command reads or fills: the SQLite file when one is named; else the Storage Queue when
    the environment configures one (as in the Function App); else the file `relay serve` reads."""
    from relay.inbox.sqlite import SqliteInbox
    from relay.inbox.storage import queue_inbox

    if path is None and (queue := queue_inbox(environ)) is not None:
        return queue
    return SqliteInbox(path or LOCAL_INBOX)


@dataclass(frozen=True)
class Paths:
    """Where this run reads and writes; each one overrides the config's."""

    inventory: Path | None = None
    ledger: Path | None = None
    outbox: Path | None = None


def open_relay(config: Config, paths: Paths = Paths(), now: datetime | None = None,
               environ: Mapping[str, str] | None = None) -> Relay:
    """Everything a run needs, checked up front: a receiver that cannot send fails here, not mid-alert."""
    outbox = paths.outbox or config.outbox
    vms = vm_source(config, paths.inventory)
    environ = os.environ if environ is None else environ
    ledger = open_ledger(paths.ledger or config.ledger, environ)
    channels = {r.receiver.name: channel_for(r.receiver, outbox, ledger, environ) for r in config.routes}
    relay = Relay(
        ledger=ledger,
        vms=vms,
        routes=config.routes,
        channel_for=lambda receiver: channels[receiver.name],
        operations=config.operations_routes(),
        urgent=config.urgent,
    )
    if now is not None:
        relay.clock = lambda: now
    return relay


def function_relay(config: Config | None, environ: Mapping[str, str]) -> Relay:
    """The Relay of a Function App: its config (RELAY_CONFIG; None when unset), and RELAY_INVENTORY,
    RELAY_LEDGER, RELAY_OUTBOX, RELAY_TABLES_CONNECTION (the ledger on Table Storage).

    The app's own folder is read-only once deployed, so without a config the ledger and outbox go to
    the instance's temporary folder.
    """
    import tempfile

    scratch = None if config is not None else Path(tempfile.gettempdir()) / "relay"

    def path(name: str, default: Path | None) -> Path | None:
        return Path(environ[name]) if environ.get(name) else default

    paths = Paths(
        inventory=path("RELAY_INVENTORY", None),
        ledger=path("RELAY_LEDGER", scratch and scratch / "ledger.sqlite"),
        outbox=path("RELAY_OUTBOX", scratch and scratch / "outbox"),
    )
    return open_relay(config or default_config(), paths, environ=environ)
