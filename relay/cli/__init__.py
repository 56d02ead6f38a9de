"""The `relay` command (also `python -m relay`): one module per command in this package, each with
`register(command)` to add its options and `run(args)` to do its work. Each command is a composition root:
it builds what it needs (relay.hosts.wiring) and hands it down.

Besides the commands: common.py (exit codes, shared options, reading alert files), vm_table.py and
maintain_report.py (what `relay vms` and `relay maintain` print), outbox_page.py (outbox/index.html, the
preview of every message written).
"""
from __future__ import annotations

import argparse
import logging
import sys

from relay.channels import ChannelUnavailable
from relay.cli import (
    agent,
    backfill,
    calendar,
    config_check,
    demo,
    digest,
    maintain,
    poison,
    process,
    provision,
    remind,
    render,
    route,
    send_test,
    serve,
    silence,
    teams_app,
    validate,
    vms,
)
from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK
from relay.config import ConfigError
from relay.enrich.inventory import InventoryError
from relay.runtime.redact import install as install_redaction

COMMANDS = (validate, render, process, route, serve, poison, backfill, digest, remind, calendar, silence, send_test, vms,
            maintain, provision, config_check, demo, agent, teams_app)

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
  relay route alert.json --config relay.yaml   who would get what (which VMs), without sending
  relay config check relay.yaml                every problem of the config, with its line
  relay serve --port 7071                      then POST alerts to http://127.0.0.1:7071/api/alerts
  relay poison list                            alerts the relay gave up on; relay poison replay ID
  relay send-test oncall-teams --config relay.yaml   check a receiver after deploying
  relay vms XY12-3ZQ --subscription <id> --format csv   the affected VMs of a maintenance, from Azure
  relay maintain start --tracking-id XY12-3ZQ --dry-run   start "Start now" VMs yourself, in safe waves
  relay backfill --since 24h --config relay.yaml   queue the alerts Azure has but the relay never got
  relay digest --config relay.yaml --dry-run   what each manager's daily digest would say today
  relay remind --config relay.yaml --dry-run   the reminders due now, and held messages to release
  relay calendar --config relay.yaml --receiver managers --out managers.ics   its maintenance calendar
  relay silence add --match resource_group=rg-web --for 2h --by sato --comment "patching"   hold its news back
  relay provision --subscription <id> <id> --function-url "$URL" --dry-run   alert rules in more subscriptions
  relay agent --relay-url "$URL/api/scheduled-events" --key-env RELAY_KEY   on a VM: warn before Azure reboots it
  relay teams-app --bot-id <TEAMS_BOT_ID> --website-url https://wiki.contoso.com/relay   the Teams bot's app package

exit status: 0 done, 1 some message could not be delivered (vms: the VM list is incomplete;
maintain: some VM failed; provision: some subscription failed), 2 bad input (payload, config, inventory,
arguments)."""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_redaction()
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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="relay", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log each stage to stderr")
    commands = root.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    for module in COMMANDS:
        module.register(command)
    return root
