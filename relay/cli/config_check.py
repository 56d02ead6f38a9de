"""`relay config check [FILE]`: every problem of a config, with its line and what to write instead."""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import yaml

from relay.channels import ChannelUnavailable, check_destination
from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK
from relay.config import Config, ConfigError, parse_config
from relay.config.document import read_document
from relay.config.receivers import parse_receiver

# What the environment variable of each transport holds; a transport not here reads none.
_HOLDS = {
    "teams": "the URL of a Teams Workflows webhook",
    "slack": "the Slack incoming-webhook URL (https://hooks.slack.com/services/…)",
    "slack-bot": "the Slack bot token (xoxb-…)",
    "smtp": "the SMTP server URL (smtp://user:password@host:587)",
    "acs": "the Azure Communication Services connection string",
    "teams-bot": "the client secret of the Teams bot's app registration",
}
_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def register(command) -> None:
    p = command("config", help="check a config file", description="Work with the relay's YAML config.")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="list every problem of a config, with its line",
        description="Reads the config as the relay would and lists every problem as FILE:LINE: path: problem,\n"
        "with what to write instead: unknown settings, bad values and regular expressions, receivers and\n"
        "routes that do not fit, and, in this environment, the environment variables a receiver names but\n"
        "that are not set or hold what its channel cannot use: a URL with a wrong scheme, host or port, an\n"
        "address of a retired Office 365 connector. Secrets are never printed.\n"
        "Exit 0 when there is nothing to fix, 2 otherwise.",
        epilog="example:\n  relay config check examples/relay.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("file", nargs="?", type=Path, metavar="FILE",
                       help="YAML config; default: $RELAY_CONFIG, else relay.yaml")
    check.set_defaults(run=run)


def run(args) -> int:
    path = args.file or Path(os.environ.get("RELAY_CONFIG") or "relay.yaml")
    try:
        root, data = read_document(path)
    except ConfigError as e:
        print(e)
        return EXIT_BAD_INPUT
    try:
        config, problems = parse_config({} if data is None else data, source=str(path), base=path.parent), []
    except ConfigError as e:
        config, problems = None, list(e.problems)
    problems += environment_problems(data, path.parent, os.environ)
    located = sorted((line_of(root, problem.split(":", 1)[0]), problem) for problem in problems)
    for line, problem in located:
        print(f"{path}:{line}: {problem}")
    if located or config is None:
        print(f"{path}: {len(located)} problem(s)")
        return EXIT_BAD_INPUT
    tree = "a routing tree" if isinstance(data, dict) and "route" in data else "no routing tree"
    print(f"{path}: OK: {len(config.routes)} receiver(s), {tree}{_followup(config)}")
    return EXIT_OK


def _followup(config: Config) -> str:
    """Who gets reminders (relay remind), and who has quiet hours."""
    receivers = config.receivers().values()
    reminded = config.reminders.reminded(receivers)
    quiet = [r.name for r in receivers if r.quiet_hours]
    return f"; reminders to {', '.join(reminded) or 'nobody'}" + (f"; quiet hours for {', '.join(quiet)}" if quiet else "")


def environment_problems(data: object, base: Path, environ) -> list[str]:
    """What this environment lacks for the config: secrets' variables, and values of them that the channel
    would refuse, by the channel's own check. Looks at every receiver that reads well on its own, so it is
    said along with the file's problems."""
    if not isinstance(data, dict):
        return []
    problems = []
    inventory = data.get("inventory")
    if isinstance(inventory, str) and not (base / inventory).is_file():
        problems.append(f"inventory: no file {base / inventory}; give the path of the VM inventory, relative to"
                        " the config")
    items = data.get("receivers")
    for i, item in enumerate(items if isinstance(items, list) else []):
        parsed = parse_receiver(item, f"receivers[{i}]", [])  # its problems are the file's, said already
        if parsed is None:
            continue
        receiver, variable = parsed.receiver, parsed.receiver.destination_env
        if receiver.transport not in _HOLDS or variable is None:
            continue
        where = f"receivers[{i}].{next((key for key in ('token', 'secret') if key in item), 'destination')}"
        if not environ.get(variable, "").strip():
            problems.append(f"{where}: environment variable {variable} is not set here; set it to"
                            f" {_HOLDS[receiver.transport]}")
            continue
        try:
            check_destination(receiver, environ)
        except ChannelUnavailable as e:
            problems.append(f"{where}: {e}")
    return problems


def line_of(root: yaml.Node | None, path: str) -> int:
    """The line of the deepest part of `path` (like receivers[2].match.tag) that the file has."""
    line = root.start_mark.line + 1 if root is not None else 1
    node = root
    for index, key in _SEGMENT.findall(path):
        if isinstance(node, yaml.MappingNode) and key:
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    return line
