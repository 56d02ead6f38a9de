"""`relay send-test RECEIVER`: one test message through one configured receiver."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, config_of, fail
from relay.model import Receiver, SendResult


def register(command) -> None:
    p = command("send-test", help="send a short test message through one configured receiver",
                description="Renders a bilingual test message for RECEIVER (a name from the config) and sends it"
                " once, without retries or the ledger, then prints what the destination answered. Exit 0 when"
                " it was delivered, 1 when not.")
    p.add_argument("receiver", help="receiver name from the config")
    p.add_argument("--config", type=Path, help="YAML config; default: one outbox receiver per channel")
    p.add_argument("--outbox", type=Path, help="outbox folder for outbox receivers (default ./outbox)")
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.channels import channel_for
    from relay.store.sqlite import SqliteLedger

    config = config_of(args)
    receivers = config.receivers()
    receiver = receivers.get(args.receiver)
    if receiver is None:
        return fail(f"no receiver {args.receiver!r} in {config.source}; there are: {', '.join(receivers)}")
    channel = channel_for(receiver, args.outbox or config.outbox, SqliteLedger(":memory:"), os.environ)
    result = send_test(receiver, channel, datetime.now(UTC))
    where = f"{receiver.name} ({receiver.channel} via {receiver.transport})"
    if result.ok:
        print(f"{where}: delivered. {result.detail}".rstrip())
        return EXIT_OK
    retry = "yes" + (f", after {result.retry_after:g} s" if result.retry_after else "") if result.retryable else "no"
    print(f"{where}: NOT delivered: {result.detail} (worth retrying: {retry})")
    return EXIT_UNDELIVERED


def send_test(receiver: Receiver, channel, now: datetime) -> SendResult:
    """Render and send once: no ledger, no retries, so the answer is the destination's own."""
    from relay.notices.connection_test import connection_test
    from relay.render import render

    message = render(connection_test(receiver, now), receiver)
    try:
        return channel.send(message)
    except Exception as e:  # report it like any failed send; the text may hold a secret
        return SendResult.failed(f"channel error: {type(e).__name__}", retryable=True)
