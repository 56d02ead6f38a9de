"""`relay poison list|replay`: the alerts the relay gave up on, and putting them back in the inbox."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, fail
from relay.hosts.wiring import LOCAL_INBOX, open_inbox
from relay.notices.parked import describe

HELP = f"""\
An alert the relay could not relay after all its tries is parked, not dropped, and the operations
receivers are told. Where it is parked:
  relay serve              the inbox file ({LOCAL_INBOX}, or --inbox), marked dead
  the Function App         the Storage Queue relay-inbox-poison, where the Functions host moves a
                           message after host.json's maxDequeueCount tries

Without --inbox, this command reads the Storage Queue when the environment names one as the Function
App does (AzureWebJobsStorage, or the setting RELAY_QUEUE_CONNECTION names), else {LOCAL_INBOX}.
Replaying puts the alert back in the inbox as a new item: relay serve or the queue trigger relays it
again, and the ledger still keeps anything already delivered from being sent twice."""


def register(command) -> None:
    p = command("poison", help="list the alerts the relay gave up on, or put them back in the inbox",
                description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="examples:\n  relay poison list\n  relay poison list --format json --inbox .relay/inbox.sqlite\n"
                       "  relay poison replay 3f2a…        one item, by the id the list and the notice show\n"
                       "  relay poison replay --all")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show what is parked (oldest first)")
    listing.add_argument("--format", choices=("table", "json"), default="table", help="default: table")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100;"
                         " the Storage Queue shows at most 32 without taking them)")
    replay = actions.add_parser("replay", help="put parked alerts back in the inbox")
    replay.add_argument("ids", nargs="*", metavar="ID", help="the parked items to replay")
    replay.add_argument("--all", action="store_true", help="replay everything parked")
    for action in (listing, replay):
        action.add_argument("--inbox", type=Path, help=f"the SQLite inbox of relay serve (default {LOCAL_INBOX},"
                            " unless the environment names a Storage Queue)")
    listing.set_defaults(run=run_list)
    replay.set_defaults(run=run_replay)


def run_list(args) -> int:
    inbox = open_inbox(args.inbox, os.environ)
    try:
        parked = inbox.parked(limit=args.limit)
        total = inbox.poisoned_count()
    finally:
        inbox.close()
    rows = [{"id": p.id, "since": p.since.isoformat() if p.since else None, "tries": p.attempts,
             "reason": p.reason, "alert": describe(p.body)} for p in parked]
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print(f"nothing parked in {inbox.parked_where}")
    else:
        for row in rows:
            print(f"{row['id']}  {row['since'] or '-'}  {row['tries']} tries  {row['alert'] or '(unreadable alert)'}")
            print(f"    reason: {row['reason'] or 'not recorded here; the operations notice and the log say'}")
        shown = f"{len(rows)} of about {total}" if total > len(rows) else str(len(rows))
        print(f"{shown} parked in {inbox.parked_where}; `relay poison replay ID` puts one back")
    return EXIT_OK


def run_replay(args) -> int:
    if bool(args.ids) == args.all:
        return fail("name the items to replay (relay poison list shows their ids), or --all")
    inbox = open_inbox(args.inbox, os.environ)
    missing = []
    try:
        if args.all:
            replayed = inbox.replay_all()
        else:
            replayed = []
            for item_id in args.ids:
                new_id = inbox.replay(item_id)
                if new_id is None:
                    missing.append(item_id)
                else:
                    replayed.append(new_id)
                    print(f"{item_id}: back in the inbox as {new_id}")
    finally:
        inbox.close()
    for item_id in missing:
        print(f"{item_id}: not parked in {inbox.parked_where} (already replayed?)")
    print(f"{len(replayed)} alert(s) put back in the inbox; relay serve or the queue trigger relays them")
    return EXIT_UNDELIVERED if missing else EXIT_OK
