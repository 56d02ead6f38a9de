"""What the commands share: exit codes, common options, reading alert files and the config."""
from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.alerts import PayloadError, parse_alert
from relay.config import Config, default_config, load_config
from relay.model import Event, Notification

EXIT_OK, EXIT_UNDELIVERED, EXIT_BAD_INPUT = 0, 1, 2


def add_now(p: argparse.ArgumentParser) -> None:
    p.add_argument("--now", type=instant, help="pretend it is this time (ISO 8601; no zone = UTC); default: now")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (receivers, paths); default: one outbox receiver per channel")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); overrides the config")
    p.add_argument("--outbox", type=Path, help="outbox folder; overrides the config (default ./outbox)")
    p.add_argument("--state", type=Path, help="ledger file (SQLite); overrides the config (default .relay/ledger.sqlite)")
    add_now(p)


def instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (try 2027-01-12T00:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def subscription_id(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a subscription id: {text!r} (like 0a1b2c3d-1111-2222-3333-444455556666)")
    return text.strip().lower()


def config_of(args) -> Config:
    return load_config(args.config) if getattr(args, "config", None) else default_config()


def read(file: str) -> bytes:
    return sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()


def parse_file(file: str) -> Event | None:
    """The event, or None after printing every problem to stderr."""
    try:
        return parse_alert(read(file))
    except OSError as e:
        print(f"{file}: cannot read: {e.strerror}", file=sys.stderr)
    except PayloadError as e:
        for problem in e.problems:
            print(f"{file}: {problem}", file=sys.stderr)
    return None


def enriched_file(file: str, config: Config, inventory: Path | None, now: datetime | None) -> Notification | None:
    """The alert in `file` with its VMs (from `inventory`, else the config's source) as of `now`, or None after
    printing every problem. Nothing is recorded or sent."""
    from relay.enrich import enrich
    from relay.hosts.wiring import vm_source

    event = parse_file(file)
    if event is None:
        return None
    return Notification(enrich(event, vm_source(config, inventory), now or datetime.now(UTC)))


def fail(message: str) -> int:
    print(f"relay: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
