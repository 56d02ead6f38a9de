"""`relay serve`: the Function's HTTP intake on a laptop (relay.hosts.web), beside the relaying of what it keeps.

The server runs its event loop in the thread that calls `serve_forever()` until `shutdown()`; `server_close()`
then stops the relaying started here (`start_worker`; the command relays in a process of its own instead, see
relay.hosts.relaying) and closes the socket.
"""
from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import threading
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from relay.calendar.feed import CalendarFeed
from relay.hosts.calendar import calendar_reply
from relay.hosts.messages import Messages, Starting, UpdateCard, bot_messages, card_refresher
from relay.hosts.relaying import Relaying
from relay.hosts.web import BODY_SECONDS, HEADER_SECONDS, Connections, Intake
from relay.inbox.sqlite import SqliteInbox
from relay.pipeline import Relay

if TYPE_CHECKING:
    from relay.auth.botframework import BotFrameworkCheck
    from relay.auth.entra import EntraCheck

log = logging.getLogger("relay.serve")

MAX_CONNECTIONS = 4096
SPARE_FILES = 64  # descriptors kept for the inbox, the ledger, the outbox and the channels' own connections
BACKLOG = 1024  # a small backlog refuses bursts of new connections


class RelayServer:
    def __init__(self, address: tuple[str, int], relay: Relay, inbox: SqliteInbox, key: str | None = None,
                 entra: EntraCheck | None = None, max_connections: int = MAX_CONNECTIONS,
                 header_seconds: float = HEADER_SECONDS, body_seconds: float = BODY_SECONDS,
                 bot_check: BotFrameworkCheck | None = None, update_card: UpdateCard | None = None,
                 starting: Starting | None = None):
        """With a Teams bot receiver, POST /api/messages is served: its tokens are checked by `bot_check`, by
        default one made from the bot receivers and RELAY_BOT_OPENID_URL on the first activity. `update_card`
        (relay.hosts.messages): by default the relay's Teams bot channel refreshes the thread's first card.
        `starting`: what the cards' start buttons need (relay.hosts.messages.starting_for); None: not offered."""
        self.relay, self.inbox = relay, inbox
        self.socket = socket.create_server(address, backlog=BACKLOG)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        feed = CalendarFeed(relay.ledger, {r.receiver.name: r.receiver for r in relay.routes}, relay.clock)
        self.intake = Intake(lambda body, event: inbox.put(body), inbox.counts, key=key, entra=entra,
                             body_seconds=body_seconds, calendar=partial(calendar_reply, feed),
                             messages=_messages(relay, bot_check, update_card or card_refresher(lambda: relay),
                                                starting))
        self.header_seconds = header_seconds
        self.max_connections = min(max_connections, open_files_allowed() - SPARE_FILES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopped = threading.Event()
        self.relaying: Relaying | None = None

    def start_worker(self, workers: int = 1) -> None:
        """Relay what the inbox holds in this process, in worker threads."""
        self.relaying = Relaying(self.inbox, self.relay, workers)
        self.relaying.start()

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serving (from another thread) and wait until the loop has ended."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._stopped.wait(timeout=30)

    def server_close(self) -> None:
        if self.relaying is not None:
            self.relaying.stop()
        self.intake.close()
        self.socket.close()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.ServerRunner(Connections(self.intake, self.max_connections, self.header_seconds), shutdown_timeout=5)
        await runner.setup()
        await web.SockSite(runner, self.socket, backlog=BACKLOG).start()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


def _messages(relay: Relay, check: BotFrameworkCheck | None, update_card: UpdateCard | None,
              starting: Starting | None) -> Messages | None:
    """The Teams bot's endpoint, when a receiver is a bot; None: no such route."""
    receivers = {r.receiver.name: r.receiver for r in relay.routes}
    made: list[BotFrameworkCheck | None] = [check] if check is not None else []
    lock = threading.Lock()

    def bot_check() -> BotFrameworkCheck | None:
        """Made once, on the first activity: settings that cannot be used answer 503 and say why, each time."""
        from relay.auth.botframework import bot_framework_check

        with lock:
            if not made:
                made.append(bot_framework_check(receivers.values(), os.environ))
            return made[0]

    messages = bot_messages(receivers, bot_check, lambda: relay.ledger, relay.clock, update_card, starting)
    return messages if messages.bots else None


def open_files_allowed() -> int:
    """Raise this process's open-file limit to its hard limit (the soft one is often 1,024) and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + SPARE_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit from %d; connections are capped below it", soft)
    return wanted if soft == resource.RLIM_INFINITY else soft
