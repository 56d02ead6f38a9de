"""`relay demo`: the example maintenance played as it happens, into ./outbox, with a page to read it.

Each example alert is relayed at its own time (its eventTimestamp is the clock), with the VMs as Azure
would return them then: of the files in examples/inventory/, each named for the day it holds, the newest
on or before that day. The managers' digest runs on its own morning, DIGEST_AT. outbox/index.html shows
every message with the clock it was rendered at, and offers each receiver's calendar feed as a file
(calendar-<receiver>.ics), as GET /api/calendar.ics would serve it at the end of the story.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, fail, parse_file
from relay.cli.digest import send_digests_reporting
from relay.cli.outbox_page import CALENDARS, record_clocks, write_index
from relay.cli.process import process_event_reporting
from relay.cli.remind import remind_reporting
from relay.config import Config, load_config
from relay.hosts.wiring import Paths, open_ledger, open_relay
from relay.model import Event
from relay.render.times import format_time_both

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = EXAMPLES / "relay.yaml"
ALERTS = EXAMPLES / "alerts"
INVENTORIES = EXAMPLES / "inventory"  # 2027-01-06-planned.json, …: the VMs on that day
DIGEST_AT = datetime(2027, 2, 15, 0, 0, tzinfo=UTC)  # Monday 09:00 JST, the week the self-service window closes
# A few of the reminder passes the Function runs every 15 minutes: the moments something is due. db-team has quiet
# hours on weekday nights and weekends (examples/relay.yaml): what comes for it then waits, unless urgent.
REMINDERS = (
    (datetime(2027, 2, 14, 0, 0, tzinfo=UTC), "3 days before the self-service deadline (a Sunday: db-team's waits)"),
    (datetime(2027, 2, 16, 0, 0, tzinfo=UTC), "1 day before the self-service deadline"),
    (datetime(2027, 2, 18, 15, 0, tzinfo=UTC), "24 hours before Azure's first reboots"),
    (datetime(2027, 2, 21, 23, 0, tzinfo=UTC), "db-team's weekend ends: what was held is released"),
    (datetime(2027, 2, 28, 23, 0, tzinfo=UTC), "db-team's weekend ends: what was held is released"),
)
DEMO_MARKER = ".relay-demo"
LEDGER = ".ledger.sqlite"


def register(command) -> None:
    p = command("demo", help="relay the bundled example alerts into ./outbox, each at its own time",
                description="Plays the examples as they happen: a planned maintenance (announced, redelivered,"
                " rescheduled, in progress, complete), an incident and a Resource Health alert, each at its own"
                " eventTimestamp with the VMs as Azure would return them then (examples/inventory/), reminders"
                " before the deadline and the reboots, the messages held in a team's quiet hours released when"
                " they end, and the managers' digest on its own morning; with examples/relay.yaml (a platform"
                " channel, two teams that get only their own VMs, managers). Writes every message to the outbox"
                " and an index.html that shows each one with the clock it was rendered at. Nothing is sent.")
    p.add_argument("--outbox", type=Path, default=Path("outbox"), help="default: ./outbox (emptied first)")
    p.set_defaults(run=run)


@dataclass(frozen=True)
class Step:
    """One moment of the story: an alert arriving (its event), the managers' digest or a reminder pass."""

    at: datetime
    name: str
    event: Event | None = None
    job: str = "alert"  # alert (its event), digest, remind


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    return os.path.relpath(path) if path.is_absolute() else str(path)


def inventory_on(day: date, folder: Path = INVENTORIES) -> Path | None:
    """The newest inventory file dated on or before `day` (its name starts with the date)."""
    dated = sorted((p.name[:10], p) for p in folder.glob("*.json") if p.name[:10] <= day.isoformat())
    return dated[-1][1] if dated else None


def story(alerts: list[Path]) -> list[Step] | None:
    """The alerts and the digest in the order they happen; None after printing why an alert cannot be read."""
    steps = [Step(DIGEST_AT, "the managers' daily digest", job="digest")]
    steps += [Step(at, f"the reminder pass: {why}", job="remind") for at, why in REMINDERS]
    for alert in alerts:
        event = parse_file(str(alert))
        if event is None or event.event_time is None:
            return None
        steps.append(Step(event.event_time, _shown(alert), event))
    return sorted(steps, key=lambda step: step.at)


def _messages(outbox: Path) -> set[Path]:
    """Every message file, those in a bot receiver's thread folders too."""
    return {p for p in outbox.glob("*/**/*") if p.suffix in (".json", ".eml") and not p.name.startswith(".")}


def _relay_alert(name: str, event: Event, at: datetime, config: Config, paths: Paths) -> int:
    relay = open_relay(config, paths, now=at)
    try:
        outcome = process_event_reporting(name, event, relay)
    finally:
        relay.ledger.close()
    return EXIT_OK if outcome.ok else EXIT_UNDELIVERED


def play(step: Step, config: Config, outbox: Path) -> int:
    """One moment: its alert relayed (or the digest sent) as of its time; each message written remembers it."""
    inventory = inventory_on(step.at.date())
    what = "" if step.event else f" · {step.name}"
    print(f"\n{format_time_both(step.at, 'en')}{what} · VMs as of {_shown(inventory) if inventory else 'none'}")
    before = _messages(outbox)
    paths = Paths(inventory, outbox / LEDGER, outbox)
    if step.event is not None:
        code = _relay_alert(step.name, step.event, step.at, config, paths)
    elif step.job == "digest":
        code = send_digests_reporting(config, paths, step.at)
    else:
        code = remind_reporting(config, paths, step.at)
    record_clocks(outbox, dict.fromkeys(_messages(outbox) - before, step.at))
    return code


def write_calendars(config: Config, outbox: Path, at: datetime) -> list[Path]:
    """Each receiver's calendar feed as of `at`, from the demo's ledger, beside the messages."""
    from relay.calendar.feed import CalendarFeed
    from relay.channels.outbox import folder_name

    ledger = open_ledger(outbox / LEDGER, {})
    feed = CalendarFeed(ledger, config.receivers(), lambda: at)
    try:
        written = []
        for name, receiver in config.receivers().items():
            if receiver.calendar:
                path = outbox / CALENDARS.replace("*", folder_name(name))
                path.write_bytes(feed.file(name).body)
                written.append(path)
        return written
    finally:
        ledger.close()


def _empty(outbox: Path) -> bool:
    """The outbox emptied for a new run; False when it holds files the demo did not write."""
    if outbox.exists() and any(outbox.iterdir()) and not (outbox / DEMO_MARKER).exists():
        return False
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir(parents=True)
    (outbox / DEMO_MARKER).write_text("written by relay demo; emptied on every run\n")
    return True


def run(args) -> int:
    outbox: Path = args.outbox
    if not _empty(outbox):
        return fail(f"{outbox} holds files the demo did not write; choose another --outbox")
    steps = story(sorted(ALERTS.glob("*.json")))
    if steps is None:
        return fail(f"an example alert in {_shown(ALERTS)} cannot be read")
    print(f"relay demo: the examples of {_shown(ALERTS)} as they happen, each at its own time, with {_shown(CONFIG)}"
          " (a platform channel, two teams that get only their own VMs, managers) and the VMs of"
          f" {_shown(INVENTORIES)} on each day; nothing is sent")
    config = load_config(CONFIG)
    code = max(play(step, config, outbox) for step in steps)
    calendars = write_calendars(config, outbox, steps[-1].at)
    print(f"\nCalendar feeds, as GET /api/calendar.ics?receiver=NAME serves them now: "
          f"{', '.join(p.name for p in calendars)}")
    index = write_index(outbox)
    print(f"\nOpen {_shown(index)} to read every message (a preview: nothing was sent); the files are in"
          f" {_shown(outbox)}/<receiver>/.")
    return code
