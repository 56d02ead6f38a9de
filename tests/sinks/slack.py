"""A loopback Slack for integration tests and the delivery benchmark, speaking both dialects:

    incoming webhook   POST /services/T…/B…/<secret>   200 "ok" | 400 "invalid_payload" / "no_text" |
                                                       404 "no_service" | 429 "rate_limited" + Retry-After
    Web API            POST /api/chat.postMessage, /api/chat.update (JSON or form bodies, token in the
                       Authorization header): {"ok": true, "channel", "ts", …} | {"ok": false, "error"}

    with SlackSink(tls=ca, per_second=1) as sink:
        sink.webhook_url, sink.api_url, sink.token
        sink.posts        # webhook payloads accepted
        sink.messages     # chat.postMessage calls accepted (with "ts" and any "thread_ts")
        sink.updates      # chat.update calls accepted
        sink.throttled    # 429s answered
        sink.fail_next(503, method="chat.postMessage")   # only that method's next call fails
"""
from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from urllib.parse import parse_qs

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA, Throttle

CHANNEL = "C0123456789"


def _fail(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"ok": False, "error": error}, headers or {})


def _api_args(request: Request) -> dict | None:
    """The arguments of a Web API call, from a JSON or a form body (blocks arrive as a JSON string)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            args = request.json()
            return args if isinstance(args, dict) else None
        args = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        return args
    except ValueError:
        return None


class SlackSink(Sink):
    def __init__(self, *, tls: TestCA | None = None, per_second: float | None = None,
                 channels: tuple[str, ...] = (CHANNEL,)):
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
        self._clock = 1_700_000_000_000_000  # ts in microseconds; the first is "1700000000.000100"
        self._faults: dict[str, deque[Reply]] = {}
        self._throttle = Throttle(per_second)
        self._lock = threading.Lock()

    @property
    def throttled(self) -> int:
        return self._throttle.throttled

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
        if method not in ("chat.postMessage", "chat.update"):
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
        wait = self._throttle.take()
        if wait is not None:
            return _fail("ratelimited", 429, {"Retry-After": str(wait)})
        if args is None:
            return _fail("invalid_json")
        args.pop("token", None)
        if args.get("channel") not in self.channels:
            return _fail("channel_not_found")
        if not args.get("text") and not args.get("blocks"):
            return _fail("no_text")
        if not isinstance(args.get("blocks", []), list):
            return _fail("invalid_blocks")
        with self._lock:
            return self._post(args) if method == "chat.postMessage" else self._update(args)

    def _post(self, args: dict) -> Reply:
        channel, parent = args["channel"], args.get("thread_ts")
        if parent is not None and (channel, parent) not in self._by_ts:
            return _fail("thread_not_found")
        self._clock += 100
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
