"""`relay serve`: the webhook intake and its worker on a laptop."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from relay.cli.common import EXIT_OK, add_run_options, config_of, fail
from relay.hosts.wiring import LOCAL_INBOX, Paths, open_relay


def register(command) -> None:
    p = command("serve", help="run the webhook intake and its worker locally",
                description="POST /api/alerts answers 202 once the alert is kept in the inbox,"
                " 400 with problem details for a bad payload, 413 over 256 KB. Worker threads relay"
                " what the inbox holds. GET /api/health answers ok, and shows the inbox to callers with the key."
                " With RELAY_ENTRA_TENANT_ID and RELAY_ENTRA_AUDIENCE set (as on the Function App), a call also"
                " needs an Entra ID token from an Action Group's secure webhook: 401/403 without one. Connections"
                " that stall or send malformed requests are closed (see docs/operate.md).")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, default=7071, help="default: 7071")
    p.add_argument("--inbox", type=Path, default=LOCAL_INBOX, help=f"default: {LOCAL_INBOX}")
    p.add_argument("--workers", type=int, default=2, choices=range(1, 33), metavar="N",
                   help="worker threads taking alerts from the inbox (default 2): each finds an alert's VMs and"
                        " routes it; the messages then go out on each receiver's own lane (docs/operate.md)")
    p.add_argument("--key-env", metavar="NAME",
                   help="require the key held by this environment variable (?code= or x-functions-key)")
    p.add_argument("--relay-only", type=int, metavar="PID", help=argparse.SUPPRESS)  # the child it starts itself
    add_run_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.auth import SettingsError, entra_check
    from relay.hosts.messages import starting_for
    from relay.hosts.relaying import RelayingProcess
    from relay.hosts.serve import RelayServer
    from relay.inbox.sqlite import SqliteInbox
    from relay.runtime import telemetry

    if args.relay_only:
        return relay_only(args)
    key = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            return fail(f"environment variable {args.key_env} is empty or not set")
    try:
        entra = entra_check(os.environ)
    except SettingsError as e:
        return fail(str(e))
    config = config_of(args)
    relay = open_relay(config, Paths(args.inventory, args.state, args.outbox), now=args.now)
    # The intake's threads hand each request back and forth with the event loop; a thread waiting for the
    # interpreter would wait a 5 ms switch interval each time. A shorter one keeps the 202s quick.
    sys.setswitchinterval(0.0005)
    if telemetry.setup(os.environ):
        print("relay: counters and logs go to Application Insights", file=sys.stderr)
    server = RelayServer((args.host, args.port), relay, SqliteInbox(args.inbox, role="intake"), key=key, entra=entra,
                         starting=starting_for(config, lambda: relay, os.environ))
    relaying = RelayingProcess([sys.executable, "-m", "relay", "serve", "--relay-only", str(os.getpid()),
                                *relaying_options(args)])
    host, port = server.server_address[:2]
    if entra:
        print(f"relay: Entra ID tokens of tenant {entra.settings.tenant_id} required", file=sys.stderr)
    print(f"relay: listening on http://{host}:{port}/api/alerts (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        relay.ledger.close()
        relaying.stop()
    return EXIT_OK


def relaying_options(args) -> list[str]:
    """The options the relaying process needs: where the inbox, config, inventory, ledger and outbox are."""
    options = ["--inbox", str(args.inbox), "--workers", str(args.workers)]
    for name in ("config", "inventory", "state", "outbox"):
        if getattr(args, name, None) is not None:
            options += [f"--{name}", str(getattr(args, name))]
    if args.now is not None:
        options += ["--now", args.now.isoformat()]
    return options + (["--verbose"] if args.verbose else [])


def relay_only(args) -> int:
    """The relaying process: worker threads on the inbox until told to stop (SIGTERM, Ctrl-C) or its parent
    relay serve is gone."""
    from relay.hosts.relaying import die_with, relay_until_stopped
    from relay.inbox.sqlite import SqliteInbox
    from relay.runtime import telemetry

    die_with(args.relay_only)
    telemetry.setup(os.environ)
    relay = open_relay(config_of(args), Paths(args.inventory, args.state, args.outbox), now=args.now)
    relay_until_stopped(SqliteInbox(args.inbox, role="relaying"), relay, args.workers)
    relay.ledger.close()
    return EXIT_OK
