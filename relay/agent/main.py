"""The agent's options, and `python -m relay.agent` (the same as `relay agent`)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from relay.agent.imds import DEFAULT_URL, Imds
from relay.agent.intake import Intake
from relay.agent.watch import DRAIN_TIMEOUT, Watch

DESCRIPTION = """\
Runs on a VM: asks the Instance Metadata Service for Scheduled Events about once a second and reports
each new one for this VM (Freeze, Reboot, Redeploy, Preempt, Terminate; a change of its status or time)
to the relay, which warns the on-call channel. Optionally drains the VM first and approves the event."""


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--relay-url", required=True, metavar="URL",
                        help="the relay's intake, e.g. https://<app>.azurewebsites.net/api/scheduled-events")
    parser.add_argument("--key-env", metavar="NAME", help="environment variable holding the function key")
    parser.add_argument("--imds-url", default=DEFAULT_URL, metavar="URL", help=f"default: {DEFAULT_URL}")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between two looks at the events (default 1)")
    parser.add_argument("--vm-name", help="this VM's name as Scheduled Events list it (default: from the"
                                          " instance metadata)")
    parser.add_argument("--approve-after-drain", metavar="CMD",
                        help="when an event for this VM is Scheduled, run CMD (through the shell, with"
                             " RELAY_EVENT_ID, RELAY_EVENT_TYPE, RELAY_EVENT_NOT_BEFORE set); on exit status 0,"
                             " approve the event (StartRequests) so that Azure starts it without waiting")
    parser.add_argument("--drain-timeout", type=float, default=DRAIN_TIMEOUT, metavar="SECONDS",
                        help=f"stop a drain command that runs longer, and do not approve (default {DRAIN_TIMEOUT:g})")
    parser.add_argument("--once", action="store_true",
                        help="one look, then exit: 0 when everything was reported, 1 otherwise")


def run(args: argparse.Namespace) -> int:
    key = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            print(f"relay agent: environment variable {args.key_env} is empty or not set", file=sys.stderr)
            return 2
    watch = Watch(Imds(args.imds_url), Intake(args.relay_url, key), vm_name=args.vm_name,
                  drain=args.approve_after_drain, drain_timeout=args.drain_timeout)
    if args.once:
        return watch.once()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # systemctl stop
    try:
        watch.run(stop, args.interval)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m relay.agent", description=DESCRIPTION)
    add_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every failed call, not just the first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    return run(args)
