"""The `relay` command (also `python -m relay`)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from .alerts import PayloadError, parse_alert
from .app import NoInventory, Paths, open_relay
from .channels import ChannelUnavailable
from .config import AzureSettings, Config, ConfigError, default_config, load_config
from .enrich import enrich
from .enrich.inventory import Inventory, InventoryError
from .jst import iso_utc
from .model import Event, Notification, Receiver
from .outbox_index import write_index
from .pipeline import Outcome, process_event
from .render import render

EXIT_OK, EXIT_UNDELIVERED, EXIT_BAD_INPUT = 0, 1, 2
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_NOW = "2027-01-12T00:00:00Z"
DEMO_MARKER = ".relay-demo"

DESCRIPTION = """\
Relays Azure Service Health planned-maintenance alerts (and incidents, advisories, Resource Health)
to Microsoft Teams, Slack and email, in Japanese and English, with the affected VMs, their
maintenance state (Start now / Scheduled / Already updated …) and every time in JST with UTC beside.

Without Azure it runs on embedded defaults: an offline inventory file for the VMs, a SQLite ledger
so nothing is sent twice, and an outbox folder instead of real channels."""

EPILOG = """\
examples:
  relay demo                                   relay the bundled examples into ./outbox
  relay validate alert.json                    is this payload usable? (exit 2 and every problem if not)
  relay render alert.json --channel slack --inventory inventory.json --now 2027-01-12T00:00:00Z
  relay process alerts/*.json --config relay.yaml
  relay serve --port 7071                      then POST alerts to http://127.0.0.1:7071/api/alerts
  relay send-test oncall-teams --config relay.yaml   check a receiver after deploying
  relay vms XY12-3ZQ --subscription <id> --format csv   the affected VMs of a maintenance, from Azure

exit status: 0 done, 1 some message could not be delivered (vms: the VM list is incomplete),
2 bad input (payload, config, inventory, arguments)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.run(args)
    except (ConfigError, InventoryError, ChannelUnavailable) as e:
        print(f"relay: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`); nothing left to say
        sys.stderr.close()
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log each stage to stderr")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    p = command("validate", help="check one alert payload and print what the relay reads from it",
                            description="Parse one alert (common or legacy schema). Prints a one-line JSON summary"
                            " on stdout and exits 0, or prints every problem with its JSON path on stderr and exits 2.")
    p.add_argument("file", help="alert JSON file, or - for standard input")
    p.set_defaults(run=cmd_validate)

    p = command("render", help="print the Teams, Slack or email message for one alert",
                            description="Print the channel-native payload: the Teams Workflows envelope (JSON),"
                            " the Slack message (JSON), or the email (RFC 5322). Nothing is recorded or sent.")
    p.add_argument("file", help="alert JSON file, or - for standard input")
    p.add_argument("--channel", required=True, choices=("teams", "slack", "email"))
    p.add_argument("--lang", default="both", choices=("ja", "en", "both"), help="default: both, Japanese first")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); without it no VMs are listed")
    _add_now(p)
    p.set_defaults(run=cmd_render)

    p = command("process", help="relay alert files through the whole pipeline",
                            description="Parse, deduplicate (a communication already delivered sends nothing),"
                            " find the affected VMs, route, render and deliver each alert file in order.")
    p.add_argument("files", nargs="+", metavar="FILE", help="alert JSON files, or - for standard input")
    _add_run_options(p)
    p.set_defaults(run=cmd_process)

    p = command("serve", help="run the webhook intake and its worker locally",
                            description="POST /api/alerts answers 202 once the alert is kept in the inbox,"
                            " 400 with problem details for a bad payload, 413 over 256 KB. A worker thread relays"
                            " what the inbox holds. GET /api/health shows the inbox.")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, default=7071, help="default: 7071")
    p.add_argument("--inbox", type=Path, default=Path(".relay/inbox.sqlite"), help="default: .relay/inbox.sqlite")
    p.add_argument("--key-env", metavar="NAME",
                   help="require the key held by this environment variable (?code= or x-functions-key)")
    _add_run_options(p)
    p.set_defaults(run=cmd_serve)

    p = command("send-test", help="send a short test message through one configured receiver",
                description="Renders a bilingual test message for RECEIVER (a name from the config) and sends it"
                " once, without retries or the ledger, then prints what the destination answered. Exit 0 when"
                " it was delivered, 1 when not.")
    p.add_argument("receiver", help="receiver name from the config")
    p.add_argument("--config", type=Path, help="YAML config; default: one outbox receiver per channel")
    p.add_argument("--outbox", type=Path, help="outbox folder for outbox receivers (default ./outbox)")
    p.set_defaults(run=cmd_send_test)

    p = command("vms", help="list the VMs a maintenance affects, and their state, from Azure",
                description="Asks Azure (Resource Graph, then each VM's instance view) which VMs the maintenance\n"
                "TRACKING_ID affects, and prints them most urgent first: name, resource group, subscription,\n"
                "state (Start now, Scheduled, …), self-service deadline and scheduled window in JST, risks.\n"
                "A progress line on stderr says what it is waiting for.\n\n"
                "Signs in with DefaultAzureCredential: az login, a managed identity, or the environment\n"
                "(AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). Needs read access (Reader) to the\n"
                "subscriptions. Exit 0 when Azure told everything, 1 when the list is incomplete (each gap\n"
                "is said on stderr), 2 on bad input.",
                epilog="examples:\n  relay vms XY12-3ZQ --subscription 0a1b2c3d-1111-2222-3333-444455556666\n"
                       "  relay vms XY12-3ZQ --config relay.yaml --format json | jq '.vms[].name'",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tracking_id", metavar="TRACKING_ID", help="the maintenance's trackingId, like XY12-3ZQ")
    p.add_argument("--subscription", action="append", default=[], metavar="ID", type=_subscription,
                   help="a subscription to search (repeat for more); besides the config's azure.subscriptions;"
                        " with none anywhere, every subscription the identity can read")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="default: table")
    p.add_argument("--config", type=Path, help="YAML config: its azure: section (time budget, endpoints, subscriptions)")
    _add_now(p)
    p.set_defaults(run=cmd_vms)

    p = command("demo", help="relay the bundled example alerts into ./outbox",
                            description="Runs the examples (a planned maintenance and its updates, a redelivered"
                            " duplicate, an incident, a Resource Health alert) against the example inventory as of"
                            f" {DEMO_NOW}, writes every message to the outbox and an index.html that shows them.")
    p.add_argument("--outbox", type=Path, default=Path("outbox"), help="default: ./outbox (emptied first)")
    p.set_defaults(run=cmd_demo)
    return parser


def _add_now(p: argparse.ArgumentParser) -> None:
    p.add_argument("--now", type=_instant, help="pretend it is this time (ISO 8601; no zone = UTC); default: now")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (receivers, paths); default: one outbox receiver per channel")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); overrides the config")
    p.add_argument("--outbox", type=Path, help="outbox folder; overrides the config (default ./outbox)")
    p.add_argument("--state", type=Path, help="ledger file (SQLite); overrides the config (default .relay/ledger.sqlite)")
    _add_now(p)


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (try 2027-01-12T00:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _subscription(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a subscription id: {text!r} (like 0a1b2c3d-1111-2222-3333-444455556666)")
    return text.strip().lower()


def _read(file: str) -> bytes:
    return sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()


def _parse_file(file: str) -> Event | None:
    """The event, or None after printing every problem to stderr."""
    try:
        return parse_alert(_read(file))
    except OSError as e:
        print(f"{file}: cannot read: {e.strerror}", file=sys.stderr)
    except PayloadError as e:
        for problem in e.problems:
            print(f"{file}: {problem}", file=sys.stderr)
    return None


def summary(event: Event) -> dict:
    return {
        "kind": event.kind.value,
        "schema": event.schema,
        "trackingId": event.tracking_id,
        "communicationId": event.communication_id,
        "stage": event.stage,
        "level": event.level,
        "emergency": event.is_emergency,
        "title": event.title,
        "start": iso_utc(event.window.start),
        "end": iso_utc(event.window.end),
        "services": list(event.services),
        "regions": list(event.regions),
        "subscriptions": list(event.subscription_ids),
        "resource": event.resource.resource_id if event.resource else None,
        "warnings": list(event.warnings),
    }


def cmd_validate(args) -> int:
    event = _parse_file(args.file)
    if event is None:
        return EXIT_BAD_INPUT
    print(json.dumps(summary(event), ensure_ascii=False))
    return EXIT_OK


def cmd_render(args) -> int:
    event = _parse_file(args.file)
    if event is None:
        return EXIT_BAD_INPUT
    source = Inventory.load(args.inventory) if args.inventory else NoInventory()
    now = args.now or datetime.now(UTC)
    message = render(Notification(enrich(event, source, now)), Receiver(name="render", channel=args.channel,
                                                                        language=args.lang))
    sys.stdout.buffer.write(message.body)
    if message.content_type == "application/json":
        sys.stdout.buffer.write(b"\n")
    return EXIT_OK


def cmd_process(args) -> int:
    config = load_config(args.config) if args.config else default_config()
    return relay_files(args.files, config, Paths(args.inventory, args.state, args.outbox), args.now)


def relay_files(files: list[str], config: Config, paths: Paths, now: datetime | None) -> int:
    """Each file through the pipeline, a line each; then the outbox index. The exit status of the worst."""
    relay = open_relay(config, paths, now=now)
    outbox = paths.outbox or config.outbox
    worst = EXIT_OK
    try:
        for file in files:
            event = _parse_file(file)
            if event is None:
                worst = EXIT_BAD_INPUT
                continue
            outcome = process_event_reporting(file, event, relay)
            if not outcome.ok and worst == EXIT_OK:
                worst = EXIT_UNDELIVERED
    finally:
        relay.ledger.close()
    if outbox.is_dir():
        print(f"outbox: {write_index(outbox)}")
    return worst


def process_event_reporting(file: str, event: Event, relay) -> Outcome:
    outcome = process_event(event, relay)
    what = f"{event.kind.value} {event.tracking_id or '-'} {event.stage or event.status or ''}".strip()
    if outcome.status == "duplicate":
        print(f"{file}: {what}: duplicate, already delivered; nothing sent")
    elif outcome.status == "superseded":
        print(f"{file}: {what}: arrived after a newer communication ({outcome.superseded_by}); nothing sent")
    else:
        sent = sum(d.result.ok for d in outcome.deliveries)
        print(f"{file}: {what}: {outcome.vm_count} VM(s); delivered to {sent}/{len(outcome.deliveries)} receiver(s)")
        for d in outcome.deliveries:
            if not d.result.ok:
                print(f"  {d.receiver}: NOT delivered: {d.result.detail}")
    for warning in event.warnings:
        print(f"  warning: {warning}")
    return outcome


def cmd_serve(args) -> int:
    from .inbox.sqlite import SqliteInbox
    from .server import RelayServer

    config = load_config(args.config) if args.config else default_config()
    relay = open_relay(config, Paths(args.inventory, args.state, args.outbox), now=args.now)
    key = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            print(f"relay: environment variable {args.key_env} is empty or not set", file=sys.stderr)
            return EXIT_BAD_INPUT
    server = RelayServer((args.host, args.port), relay, SqliteInbox(args.inbox), key=key)
    server.start_worker()
    host, port = server.server_address[:2]
    print(f"relay: listening on http://{host}:{port}/api/alerts (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        relay.ledger.close()
    return EXIT_OK


def cmd_send_test(args) -> int:
    from .channels import channel_for
    from .sendtest import send_test
    from .store.sqlite import SqliteLedger

    config = load_config(args.config) if args.config else default_config()
    receivers = {route.receiver.name: route.receiver for route in config.routes}
    receiver = receivers.get(args.receiver)
    if receiver is None:
        print(f"relay: no receiver {args.receiver!r} in {config.source}; there are: {', '.join(receivers)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    channel = channel_for(receiver, args.outbox or config.outbox, SqliteLedger(":memory:"), os.environ)
    result = send_test(receiver, channel, datetime.now(UTC))
    where = f"{receiver.name} ({receiver.channel} via {receiver.transport})"
    if result.ok:
        print(f"{where}: delivered. {result.detail}".rstrip())
        return EXIT_OK
    retry = "yes" + (f", after {result.retry_after:g} s" if result.retry_after else "") if result.retryable else "no"
    print(f"{where}: NOT delivered: {result.detail} (worth retrying: {retry})")
    return EXIT_UNDELIVERED


def cmd_vms(args) -> int:
    from . import vms
    from .enrich.azure.graph import TRACKING_ID

    if not TRACKING_ID.match(args.tracking_id):
        print(f"relay: not a trackingId: {args.tracking_id!r} (like XY12-3ZQ)", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = load_config(args.config) if args.config else default_config()
    progress = vms.Progress()
    found, gaps = vms.lookup(args.tracking_id, config.azure or AzureSettings(), tuple(args.subscription),
                             args.now or datetime.now(UTC), progress)
    progress.done()
    text = {"json": lambda: vms.as_json(found, gaps) + "\n", "csv": lambda: vms.as_csv(found),
            "table": lambda: vms.as_table(found)}[args.format]()
    sys.stdout.write(text)
    sys.stdout.flush()
    print(f"{len(found)} VM(s) affected by {args.tracking_id}", file=sys.stderr)
    for gap in gaps:
        print(vms.gap_line(gap), file=sys.stderr)
    return EXIT_UNDELIVERED if gaps else EXIT_OK


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    return os.path.relpath(path) if path.is_absolute() else str(path)


def cmd_demo(args) -> int:
    outbox: Path = args.outbox
    if outbox.exists() and any(outbox.iterdir()) and not (outbox / DEMO_MARKER).exists():
        print(f"relay: {outbox} holds files the demo did not write; choose another --outbox", file=sys.stderr)
        return EXIT_BAD_INPUT
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir(parents=True)
    (outbox / DEMO_MARKER).write_text("written by relay demo; emptied on every run\n")
    alerts = sorted((EXAMPLES / "alerts").glob("*.json"))
    inventory = EXAMPLES / "inventory.json"
    print(f"relay demo: {len(alerts)} example alerts, inventory {_shown(inventory)}, as of {DEMO_NOW}")
    code = relay_files([_shown(a) for a in alerts], default_config(),
                       Paths(inventory, outbox / ".ledger.sqlite", outbox), _instant(DEMO_NOW))
    print(f"\nOpen {outbox / 'index.html'} to read every message; the files are in {outbox}/<receiver>/.")
    return code
