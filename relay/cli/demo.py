"""`relay demo`: the bundled example alerts relayed into ./outbox, with an index page to read them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from relay.cli.common import fail, instant
from relay.cli.digest import send_digests_reporting
from relay.cli.process import relay_files
from relay.config import load_config
from relay.hosts.wiring import Paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO_NOW = "2027-01-12T00:00:00Z"
DEMO_MARKER = ".relay-demo"
CONFIG = EXAMPLES / "relay.yaml"
DIGEST_AFTER = 3  # alerts: Planned, its redelivery, Rescheduled


def register(command) -> None:
    p = command("demo", help="relay the bundled example alerts into ./outbox",
                description="Runs the examples (a planned maintenance and its updates, a redelivered"
                " duplicate, an incident, a Resource Health alert) with examples/relay.yaml (a platform"
                " channel, two teams that get only their own VMs, managers with a daily digest) and its"
                f" inventory as of {DEMO_NOW}, writes every message to the outbox and an index.html that"
                " shows them.")
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
    alerts = [_shown(a) for a in sorted((EXAMPLES / "alerts").glob("*.json"))]
    config = load_config(CONFIG)
    paths, now = Paths(None, outbox / ".ledger.sqlite", outbox), instant(DEMO_NOW)
    inventory = _shown(config.inventory) if config.inventory else "none"
    print(f"relay demo: {len(alerts)} example alerts, config {_shown(CONFIG)} (a platform channel, two teams"
          f" that get only their own VMs, managers), inventory {inventory}, as of {DEMO_NOW}")
    # The announcement and its reschedule; the managers' morning digest; then the rest of the story.
    code = relay_files(alerts[:DIGEST_AFTER], config, paths, now)
    print("\nthe managers' daily digest:")
    code = max(code, send_digests_reporting(config, paths, now))
    print()
    code = max(code, relay_files(alerts[DIGEST_AFTER:], config, paths, now))
    print(f"\nOpen {outbox / 'index.html'} to read every message; the files are in {outbox}/<receiver>/.")
    return code
