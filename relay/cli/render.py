"""`relay render FILE --channel C`: the message one alert becomes, printed; nothing recorded or sent."""
from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.hosts.wiring import vm_source
from relay.config import default_config
from relay.enrich import enrich
from relay.model import Notification, Receiver
from relay.render import render
from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, add_now, parse_file


def register(command) -> None:
    p = command("render", help="print the Teams, Slack or email message for one alert",
                description="Print the channel-native payload: the Teams Workflows envelope (JSON),"
                " the Slack message (JSON), or the email (RFC 5322). Nothing is recorded or sent.")
    p.add_argument("file", help="alert JSON file, or - for standard input")
    p.add_argument("--channel", required=True, choices=("teams", "slack", "email"))
    p.add_argument("--lang", default="both", choices=("ja", "en", "both"), help="default: both, Japanese first")
    p.add_argument("--inventory", type=Path, help="offline VM inventory (JSON); without it no VMs are listed")
    add_now(p)
    p.set_defaults(run=run)


def run(args) -> int:
    event = parse_file(args.file)
    if event is None:
        return EXIT_BAD_INPUT
    source = vm_source(default_config(), args.inventory)  # the inventory file, else no VM list
    now = args.now or datetime.now(UTC)
    message = render(Notification(enrich(event, source, now)), Receiver(name="render", channel=args.channel,
                                                                        language=args.lang))
    sys.stdout.buffer.write(message.body)
    if message.content_type == "application/json":
        sys.stdout.buffer.write(b"\n")
    return EXIT_OK
