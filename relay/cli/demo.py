"""`relay demo`: the bundled example alerts relayed into ./outbox, with an index page to read them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..app import Paths
from ..config import default_config
from .common import fail, instant
from .process import relay_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO_NOW = "2027-01-12T00:00:00Z"
DEMO_MARKER = ".relay-demo"


def register(command) -> None:
    p = command("demo", help="relay the bundled example alerts into ./outbox",
                description="Runs the examples (a planned maintenance and its updates, a redelivered"
                " duplicate, an incident, a Resource Health alert) against the example inventory as of"
                f" {DEMO_NOW}, writes every message to the outbox and an index.html that shows them.")
    p.add_argument("--outbox", type=Path, default=Path("outbox"), help="default: ./outbox (emptied first)")
    p.set_defaults(run=run)


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    return os.path.relpath(path) if path.is_absolute() else str(path)


def run(args) -> int:
    outbox: Path = args.outbox
    if outbox.exists() and any(outbox.iterdir()) and not (outbox / DEMO_MARKER).exists():
        return fail(f"{outbox} holds files the demo did not write; choose another --outbox")
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir(parents=True)
    (outbox / DEMO_MARKER).write_text("written by relay demo; emptied on every run\n")
    alerts = sorted((EXAMPLES / "alerts").glob("*.json"))
    inventory = EXAMPLES / "inventory.json"
    print(f"relay demo: {len(alerts)} example alerts, inventory {_shown(inventory)}, as of {DEMO_NOW}")
    code = relay_files([_shown(a) for a in alerts], default_config(),
                       Paths(inventory, outbox / ".ledger.sqlite", outbox), instant(DEMO_NOW))
    print(f"\nOpen {outbox / 'index.html'} to read every message; the files are in {outbox}/<receiver>/.")
    return code
