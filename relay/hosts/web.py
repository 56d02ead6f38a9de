"""`relay serve`'s HTTP side on aiohttp's low-level server (llhttp parses): what each request may ask, and what
a hostile or broken client cannot do to everyone else.

    POST /api/alerts             an Action Group webhook body → 202 {"id": …} | 400 | 411 | 413 | 503
    POST /api/scheduled-events   a Scheduled Event from `relay agent` on a VM: the same checks and answers
    GET  /api/health             200 {"status": "ok"}, and the inbox's counts when the key is sent (or none is set)
    GET  /api/calendar.ics       ?receiver=NAME: that receiver's calendar (relay.hosts.calendar) | 304 | 400 | 401 | 404
    POST /api/messages           with a Teams bot receiver: an activity from the Bot Framework (relay.hosts.messages),
                                 its JWT checked instead of the key → 200 | 400 | 401 | 403 | 413 | 501 | 503

- The key (and the Entra ID token) is checked as soon as the headers are in; a refused request's body is never
  read and its connection is closed, so nothing in that body is taken for a second request.
- Deadlines for a request head (see Connections) and BODY_SECONDS for a body. llhttp refuses Content-Length
  together with Transfer-Encoding, a bad Content-Length and an over-long request line: 400, connection closed.
- At most `max_connections` are open: a new one beyond that closes the oldest that is not being answered.
- The intake's work (parse, keep) runs in a pool of its own threads and the health check in another, so the
  event loop only moves bytes and a saturated intake leaves /api/health answering.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from relay.alerts import MAX_BYTES
from relay.hosts.calendar import CALENDAR, CalendarReply
from relay.hosts.intake import ALERTS, SCHEDULED_EVENTS, Keep, Reply, authenticate, ingest, problem, too_large
from relay.hosts.messages import MAX_BYTES as ACTIVITY_BYTES
from relay.hosts.messages import MESSAGES

if TYPE_CHECKING:
    from relay.auth.entra import EntraCheck
    from relay.hosts.messages import Messages

log = logging.getLogger("relay.serve")

HEALTH = "/api/health"
HEADER_SECONDS = 10.0
BODY_SECONDS = 30.0
INTAKE_THREADS = 16
LOGGED_PATH = 200  # characters of a request's path in a log line

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class Intake:
    """Answers the requests. `keep` keeps an accepted alert; `counts` reads the inbox for the health check."""

    def __init__(self, keep: Keep, counts: Callable[[], dict[str, int]], key: str | None = None,
                 entra: EntraCheck | None = None, body_seconds: float = BODY_SECONDS,
                 calendar: Callable[[str | None, str | None], CalendarReply] | None = None,
                 messages: Messages | None = None):
        """`calendar` answers for a receiver's calendar (its name and If-None-Match); `messages` for the Teams bot's
        activities; None: no such route."""
        self._keep, self._counts, self._key, self._entra, self._calendar = keep, counts, key, entra, calendar
        self._messages = messages
        self.body_seconds = body_seconds
        self._intake = ThreadPoolExecutor(INTAKE_THREADS, thread_name_prefix="relay-intake")
        self._health = ThreadPoolExecutor(1, thread_name_prefix="relay-health")
        self.busy: set[RequestHandler] = set()  # connections with a request being answered
        self.started: set[RequestHandler] = set()  # open connections that have sent a request head
        self._routes: dict[str, dict[str, Handler]] = {
            ALERTS: {"POST": self._post}, SCHEDULED_EVENTS: {"POST": self._post}, HEALTH: {"GET": self._health_check},
        }
        if calendar is not None:
            self._routes[CALENDAR] = {"GET": self._calendar_file}
        if messages is not None:
            self._routes[MESSAGES] = {"POST": self._activity}

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        self.busy.add(request.protocol)
        self.started.add(request.protocol)
        try:
            response = await self._route(request)
        finally:
            self.busy.discard(request.protocol)
        log.info("%s %s → %d", request.method, printable(request.path), response.status)
        return response

    def close(self) -> None:
        self._intake.shutdown(wait=False, cancel_futures=True)
        self._health.shutdown(wait=False, cancel_futures=True)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        methods = self._routes.get(request.path.rstrip("/"))
        if methods is None:
            return refuse(problem(404, "Not found", f"POST alerts to {ALERTS}, Scheduled Events to {SCHEDULED_EVENTS};"
                                  f" GET {HEALTH}."))
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(methods)
            reply = problem(405, "Method not allowed", f"{request.path.rstrip('/')} answers {allowed} only.")
            reply.headers["Allow"] = allowed
            return refuse(reply)
        return await handler(request)

    async def _post(self, request: web.BaseRequest) -> web.StreamResponse:
        endpoint = request.path.rstrip("/")
        if not self._has_key(request):
            return refuse(problem(401, "Unauthorized", "Send the key as ?code= or the x-functions-key header."))
        loop = asyncio.get_running_loop()
        if (entra := self._entra) is not None:  # checking a token may fetch the tenant's keys: not on the loop
            refusal = await loop.run_in_executor(self._intake, authenticate, lambda: entra,
                                                 request.headers.get("Authorization"), endpoint)
            if refusal:
                return refuse(refusal)
        body = await self._body(request, MAX_BYTES, too_large,
                                "Send the alert as the body, with a Content-Length header.")
        if not isinstance(body, bytes):
            return body
        return respond(await loop.run_in_executor(self._intake, ingest, body, self._keep, endpoint))

    async def _activity(self, request: web.BaseRequest) -> web.StreamResponse:
        """The Bot Framework sends no key: its token is checked instead, from the headers, before the body is read."""
        assert self._messages is not None  # the route exists only with it
        bot, loop = self._messages, asyncio.get_running_loop()
        verdict = await loop.run_in_executor(self._intake, bot.authenticate, request.headers.get("Authorization"))
        if isinstance(verdict, Reply):
            return refuse(verdict)
        body = await self._body(request, ACTIVITY_BYTES, _activity_too_large, "Send the activity as the body.")
        if not isinstance(body, bytes):
            return body
        return respond(await loop.run_in_executor(self._intake, bot.handle, verdict, body))

    async def _body(self, request: web.BaseRequest, limit: int, too_big: Callable[[int], Reply],
                    missing: str) -> bytes | web.StreamResponse:
        """The body, of at most `limit` bytes and within body_seconds; else the refusal (`too_big` words the 413
        for a size, `missing` the 411)."""
        if not request.body_exists:
            return refuse(problem(411, "Length required", missing))
        if (request.content_length or 0) > limit:
            return refuse(too_big(request.content_length or 0))
        try:
            async with asyncio.timeout(self.body_seconds):
                body = await _read_at_most(request, limit)
        except TimeoutError:
            return refuse(problem(408, "Request timeout", f"The body did not arrive within {self.body_seconds:g} s."))
        if body is None:
            return refuse(too_big(limit + 1))
        return body

    async def _health_check(self, request: web.BaseRequest) -> web.StreamResponse:
        if not self._has_key(request):
            return respond(Reply(200, {"status": "ok"}))
        counts = await asyncio.get_running_loop().run_in_executor(self._health, self._counts)
        return respond(Reply(200, {"status": "ok", "inbox": counts}))

    async def _calendar_file(self, request: web.BaseRequest) -> web.StreamResponse:
        if not self._has_key(request):
            return refuse(problem(401, "Unauthorized", "Send the key as ?code= or the x-functions-key header."))
        assert self._calendar is not None  # the route exists only with it
        reply = await asyncio.get_running_loop().run_in_executor(
            self._intake, self._calendar, request.query.get("receiver"), request.headers.get("If-None-Match"))
        return web.Response(status=reply.status, body=reply.body or None, headers=reply.headers,
                            content_type=reply.content_type, charset="utf-8")

    def _has_key(self, request: web.BaseRequest) -> bool:
        if not self._key:
            return True
        given = request.headers.get("x-functions-key") or request.query.get("code", "")
        return hmac.compare_digest(given.encode(), self._key.encode())


class Connections(web.Server):
    """aiohttp's server, holding at most `cap` connections: a new one past that closes the longest-open one that
    is not being answered (idle, or still sending its head), or itself when every one is being answered.

    A new connection has `header_seconds` (stretched by up to half, at random) for its first request head.
    Without the stretch, a thousand sockets opened together by one client would all be closed together and
    come back together, and the burst of new connections would stall everyone's answers for a moment. Later
    heads get aiohttp's keep-alive deadline: `header_seconds` after the last answer."""

    def __init__(self, intake: Intake, cap: int, header_seconds: float = HEADER_SECONDS):
        super().__init__(intake, keepalive_timeout=header_seconds * 1.5, access_log=None, logger=_protocol_log)
        self._intake, self._cap, self._header_seconds = intake, cap, header_seconds
        self.evicted = 0

    def connection_made(self, handler: RequestHandler, transport) -> None:
        super().connection_made(handler, transport)
        asyncio.get_running_loop().call_later(self._header_seconds * random.uniform(1.0, 1.5), self._first_head, handler)
        if len(self._connections) <= self._cap:
            return
        oldest = next((h for h in self._connections
                       if h not in self._intake.busy and h is not handler and h.transport is not None), handler)
        self.evicted += 1
        if self.evicted in (1, 10, 100) or self.evicted % 1000 == 0:
            log.warning("%d connection(s) open, the most allowed: closed the oldest idle one (%d so far)",
                        self._cap, self.evicted)
        oldest.force_close()


    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._intake.started.discard(handler)

    def _first_head(self, handler: RequestHandler) -> None:
        if handler in self._connections and handler not in self._intake.started:
            handler.force_close()


def _activity_too_large(size: int) -> Reply:
    return problem(413, "Payload too large", f"Activities of up to {ACTIVITY_BYTES} bytes are read.")


async def _read_at_most(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None once it runs past `limit` bytes (a chunked body says its length only as it goes)."""
    parts, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


class _OneLine(logging.Filter):
    """aiohttp logs each malformed request at ERROR with its traceback, so anyone could fill the log: it becomes
    one line, with the first line of what was wrong (the next lines quote the request, which may hold a key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            reason = (error.message or "").strip().splitlines()[:1] or [type(error).__name__]
            record.msg, record.args = "malformed request refused (%d): %s", (error.code, printable(reason[0]))
            record.exc_info = record.exc_text = None
        return True


_protocol_log = logging.getLogger("relay.serve.http")
_protocol_log.addFilter(_OneLine())


def respond(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.encoded(), content_type=reply.content_type,
                        headers=reply.headers)


def refuse(reply: Reply) -> web.Response:
    """An answer after which the connection closes: whatever the client still sends is never read as a request."""
    response = respond(reply)
    response.force_close()
    return response


def printable(text: str) -> str:
    """Text from a request as a log may show it: control characters escaped, cut short."""
    shown = repr(text[:LOGGED_PATH])[1:-1]
    return shown + "…" if len(text) > LOGGED_PATH else shown
