"""A loopback Slack for integration tests and the delivery benchmark, speaking both dialects:

    incoming webhook   POST /services/T…/B…/<secret>   200 "ok" | 400 "invalid_payload" / "no_text" |
                                                       404 "no_service" | 429 "rate_limited" + Retry-After
    Web API            POST /api/chat.postMessage, /api/chat.update (JSON or form bodies, token in the
                       Authorization header): {"ok": true, "channel", "ts", …} | {"ok": false, "error"}
                       /api/conversations.history, /api/conversations.replies (GET query or POST form):
                       {"ok": true, "messages", "has_more", "response_metadata": {"next_cursor"}}

    with SlackSink(tls=ca, per_second=1) as sink:
        sink.webhook_url, sink.api_url, sink.token
        sink.posts        # webhook payloads accepted
        sink.messages     # chat.postMessage calls accepted (with "ts", any "thread_ts" and any "metadata")
        sink.updates      # chat.update calls accepted
        sink.throttled    # 429s answered to chat.* (conversations.* have their own: lookups_throttled)
        sink.fail_next(503, method="chat.postMessage")   # only that method's next call fails
        sink.lose_next_answer()   # the next chat.postMessage is posted, then the connection drops unanswered
        sink.lose_next_answer(late=2.0)                  # ... or its answer comes 2 s late
        sink.page_limit = 2       # conversations.* answer at most 2 messages a page, whatever `limit` asks

    SlackSink(lookup_per_second=1)              # conversations.* throttled apart from chat.*, as Slack does
    SlackSink(epoch=int(now.timestamp()))       # ts count from the relay's (test) clock, which `oldest` comes from

conversations.history lists a channel's first messages newest first, conversations.replies a thread (its first
message, then the replies) oldest first; both only after `oldest`, and with each message's `metadata` only when
`include_all_metadata` is set.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA, Throttle

CHANNEL = "C0123456789"
CHAT = ("chat.postMessage", "chat.update")
LOOKUPS = ("conversations.history", "conversations.replies")


def _fail(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"ok": False, "error": error}, headers or {})


def _api_args(request: Request) -> dict | None:
    """The arguments of a Web API call, from the query and a JSON or a form body (in a form, blocks and metadata
    arrive as JSON strings)."""
    content_type = request.headers.get("content-type", "")
    query = {k: v[-1] for k, v in request.query.items()}
    try:
        if content_type.startswith("application/json"):
            args = request.json()
            return {**query, **args} if isinstance(args, dict) else None
        args = {**query, **{k: v[-1] for k, v in parse_qs(request.body.decode()).items()}}
        for key in ("blocks", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args
    except ValueError:
        return None


def _metadata_ok(metadata: object) -> bool:
    return metadata is None or (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                                and isinstance(metadata.get("event_payload"), dict))


def _flag(value: object) -> bool:
    return str(value).lower() in ("1", "true")


def _when(message: dict) -> Decimal:
    return Decimal(message["ts"])


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _cursor_ts(cursor: str) -> Decimal:
    text = base64.b64decode(cursor, validate=True).decode()
    if not text.startswith("next_ts:"):
        raise ValueError(cursor)
    return Decimal(text.removeprefix("next_ts:"))


class SlackSink(Sink):
    def __init__(self, *, tls: TestCA | None = None, per_second: float | None = None,
                 channels: tuple[str, ...] = (CHANNEL,), lookup_per_second: float | None = None,
                 epoch: int | None = 1_700_000_000):
        self.server = LoopbackServer(self._route, tls)
        self.token = f"xoxb-{secrets.token_hex(6)}-{secrets.token_hex(12)}"
        self.hook_path = f"/services/T0000000000/B0000000000/{secrets.token_urlsafe(18)}"
        self.webhook_url = self.server.url + self.hook_path
        self.api_url = self.server.url + "/api/"
        self.channels = set(channels)
        self.posts: list[dict] = []
        self.messages: list[dict] = []
        self.updates: list[dict] = []
        self._by_ts: dict[tuple[str, str], dict] = {}
        # ts in microseconds from `epoch` (seconds; Slack's clock, which `oldest` is compared with): by default the
        # first is "1700000000.000100"
        self._clock = (epoch or 0) * 1_000_000
        self._wall = epoch is None  # epoch None: ts follow the wall clock, as a long run's lookups need
        self._faults: dict[str, deque[Reply]] = {}
        self._lost: dict[str, deque[float | None]] = {}
        self.page_limit: int | None = None
        self._throttle = Throttle(per_second)
        self._lookup_throttle = Throttle(lookup_per_second)
        self._lock = threading.Lock()

    @property
    def throttled(self) -> int:
        return self._throttle.throttled

    @property
    def lookups_throttled(self) -> int:
        return self._lookup_throttle.throttled

    def fail_next(self, status: int = 503, *, method: str | None = None, times: int = 1,
                  retry_after: float | None = None, body: bytes | str | dict = b"", delay: float = 0.0,
                  drop: bool = False) -> None:
        """The next request (or, with `method`, the next call of that Web API method) fails this way."""
        if method is None:
            self.server.fail_next(status, times=times, retry_after=retry_after, body=body, delay=delay, drop=drop)
            return
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._faults.setdefault(method, deque()).extend(
                Reply(status, body, headers, delay, drop) for _ in range(times))

    def lose_next_answer(self, method: str = "chat.postMessage", *, times: int = 1, late: float | None = None) -> None:
        """The next call of `method` takes effect (a message is posted), but its answer is lost: the connection
        drops without one or, with `late`, the answer comes that many seconds late (past a client's timeout)."""
        with self._lock:
            self._lost.setdefault(method, deque()).extend(late for _ in range(times))

    def current(self, channel: str, ts: str) -> dict | None:
        """A posted message as it reads now (after any chat.update)."""
        return self._by_ts.get((channel, ts))

    def _route(self, request: Request) -> Reply:
        if request.path.startswith("/api/"):
            return self._api(request)
        if request.method != "POST" or request.path != self.hook_path:
            return Reply(404, "no_service")
        wait = self._throttle.take()
        if wait is not None:
            return Reply(429, "rate_limited", {"Retry-After": str(wait)})
        try:
            payload = request.json()
        except ValueError:
            return Reply(400, "invalid_payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("blocks", []), list):
            return Reply(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return Reply(400, "no_text")
        with self._lock:
            self.posts.append(payload)
        return Reply(200, "ok")

    def _api(self, request: Request) -> Reply:
        method = request.path.removeprefix("/api/")
        if method not in CHAT + LOOKUPS:
            return _fail("unknown_method", 404)
        with self._lock:
            faults = self._faults.get(method)
            if faults:
                return faults.popleft()
        args = _api_args(request)
        authorization = request.headers.get("authorization") or (f"Bearer {args['token']}" if args and "token" in args else None)
        if authorization is None:
            return _fail("not_authed")
        if authorization != f"Bearer {self.token}":
            return _fail("invalid_auth")
        wait = (self._lookup_throttle if method in LOOKUPS else self._throttle).take()
        if wait is not None:
            return _fail("ratelimited", 429, {"Retry-After": str(wait)})
        if args is None:
            return _fail("invalid_json")
        args.pop("token", None)
        if args.get("channel") not in self.channels:
            return _fail("channel_not_found")
        with self._lock:
            reply = self._lookup(method, args) if method in LOOKUPS else self._chat(method, args)
            lost = self._lost.get(method)
            if not lost:
                return reply
            late = lost.popleft()
        return replace(reply, drop=True) if late is None else replace(reply, delay=late)

    def _chat(self, method: str, args: dict) -> Reply:
        if not args.get("text") and not args.get("blocks"):
            return _fail("no_text")
        if not isinstance(args.get("blocks", []), list):
            return _fail("invalid_blocks")
        if not _metadata_ok(args.get("metadata")):
            return _fail("invalid_metadata_format")
        return self._post(args) if method == "chat.postMessage" else self._update(args)

    def _post(self, args: dict) -> Reply:
        channel, parent = args["channel"], args.get("thread_ts")
        if parent is not None and (channel, parent) not in self._by_ts:
            return _fail("thread_not_found")
        self._clock = max(self._clock + 100, time.time_ns() // 1000 if self._wall else 0)
        ts = f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"
        message = {**args, "ts": ts}
        self.messages.append(message)
        self._by_ts[(channel, ts)] = dict(message)
        return Reply(200, {"ok": True, "channel": channel, "ts": ts,
                           "message": {"type": "message", "text": args.get("text", ""), "ts": ts}})

    def _update(self, args: dict) -> Reply:
        key = (args["channel"], str(args.get("ts")))
        if key not in self._by_ts:
            return _fail("message_not_found")
        self.updates.append(args)
        self._by_ts[key].update({k: v for k, v in args.items() if k in ("text", "blocks")})
        return Reply(200, {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text", "")})

    def _lookup(self, method: str, args: dict) -> Reply:
        channel = args["channel"]
        if method == "conversations.history":  # first messages only: replies stay in their threads
            found = [m for m in self._by_ts.values() if m["channel"] == channel and "thread_ts" not in m]
            return self._page(sorted(found, key=_when, reverse=True), args, limit=100, newest_first=True)
        message = self._by_ts.get((channel, str(args.get("ts"))))
        if message is None:
            return _fail("thread_not_found")
        root = message.get("thread_ts", message["ts"])
        thread = [m for m in self._by_ts.values() if m["channel"] == channel and root in (m["ts"], m.get("thread_ts"))]
        return self._page(sorted(thread, key=_when), args, limit=1000, newest_first=False)

    def _page(self, messages: list[dict], args: dict, *, limit: int, newest_first: bool) -> Reply:
        """One page of `messages` (in the order given) after `oldest`, from `cursor` on."""
        try:
            oldest = Decimal(args.get("oldest") or 0)
            limit = int(args.get("limit") or limit)
            start = _cursor_ts(args["cursor"]) if args.get("cursor") else None
        except (ValueError, InvalidOperation):
            return _fail("invalid_arguments")
        if limit < 1:
            return _fail("invalid_limit")
        limit = min(limit, self.page_limit or limit)
        rest = [m for m in messages if _when(m) > oldest
                and (start is None or (_when(m) <= start if newest_first else _when(m) >= start))]
        page, more = rest[:limit], rest[limit:]
        metadata = _flag(args.get("include_all_metadata"))
        return Reply(200, {"ok": True, "messages": [self._shown(m, metadata) for m in page], "has_more": bool(more),
                           "response_metadata": {"next_cursor": _cursor(more[0]["ts"]) if more else ""}})

    def _shown(self, message: dict, metadata: bool) -> dict:
        """A message as conversations.* show it: a thread's first message has thread_ts once it has replies."""
        key = (message["channel"], message["ts"])
        replied = any((m["channel"], m.get("thread_ts")) == key for m in self._by_ts.values())
        thread_ts = message.get("thread_ts") or (message["ts"] if replied else None)
        shown = {"type": "message", "ts": message["ts"], "text": message.get("text", "")}
        shown.update({k: v for k, v in (("blocks", message.get("blocks")), ("thread_ts", thread_ts)) if v})
        if metadata and message.get("metadata"):
            shown["metadata"] = message["metadata"]
        return shown
