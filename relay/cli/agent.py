"""`relay agent`: the Scheduled Events agent of a VM (relay/agent/, which also runs as `python3 -m relay.agent`)."""
from __future__ import annotations

import logging


def register(command) -> None:
    from relay.agent.main import DESCRIPTION, add_options

    p = command("agent", help="on a VM: report its Scheduled Events (reboot in 15 minutes …) to the relay",
                description=DESCRIPTION)
    add_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.agent.main import run as run_agent

    # The agent says what it does (unlike the other commands, which are quiet without -v); -v adds every failed call.
    logging.getLogger("relay.agent").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return run_agent(args)
