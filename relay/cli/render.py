"""`relay render FILE --channel C`: the message one alert becomes, printed; nothing recorded or sent."""
from __future__ import annotations

import sys
from pathlib import Path

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK, add_now, enriched_file
from relay.config import default_config
from relay.model import Receiver
from relay.render import render


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
    notification = enriched_file(args.file, default_config(), args.inventory, args.now)  # no inventory: no VM list
    if notification is None:
        return EXIT_BAD_INPUT
    message = render(notification, Receiver(name="render", channel=args.channel, language=args.lang))
    sys.stdout.buffer.write(message.body)
    if message.content_type == "application/json":
        sys.stdout.buffer.write(b"\n")
    return EXIT_OK
