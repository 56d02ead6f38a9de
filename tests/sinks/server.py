"""A loopback HTTP(S) server for integration tests: records every request, answers through a route
function, and fails on command (status codes, Retry-After, delays, dropped connections).

    with LoopbackServer(routes) as server:        # routes(request) -> Reply
        server.fail_next(429, retry_after=1)      # the next request gets a 429
        server.fail_always(503, hold=gate)        # every request from now on: 503, once `gate` is set
        ... call server.url ...
        server.requests                           # what arrived

TLS: `LoopbackServer(routes, tls=TestCA())` serves HTTPS with a certificate for 127.0.0.1 and
localhost from a throwaway CA; `TestCA.bundle` is the CA file to trust (SSL_CERT_FILE,
REQUESTS_CA_BUNDLE, or a client's `verify=`).
"""
from __future__ import annotations

import json
import math
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

import trustme


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without an answer
    hold: threading.Event | None = None  # answer only once this is set

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


Routes = Callable[[Request], Reply]


class TestCA:
    """A throwaway certificate authority and a server certificate for the loopback names."""

    __test__ = False  # not a pytest test class

    def __init__(self):
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self._dir = tempfile.TemporaryDirectory(prefix="relay-ca-")
        self.bundle = Path(self._dir.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.bundle))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, routes: Routes, tls: TestCA | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.requests: list[Request] = []
        self._faults: deque[Reply] = deque()
        self._always: Reply | None = None
        self._lock = threading.Lock()
        if tls is not None:
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def fail_next(self, status: int = 503, *, times: int = 1, retry_after: float | None = None,
                  body: bytes | str | dict = b"", delay: float = 0.0, drop: bool = False) -> None:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._faults.extend(Reply(status, body, headers, delay, drop) for _ in range(times))

    def fail_always(self, status: int = 503, *, delay: float = 0.0, hold: threading.Event | None = None) -> None:
        """Answer every request from now on (after the faults of fail_next) with `status`, after `delay` seconds
        or once `hold` is set: a destination that is down, or hangs."""
        with self._lock:
            self._always = Reply(status, delay=delay, hold=hold)

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            fault = self._faults.popleft() if self._faults else self._always
        return fault or self.routes(request)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-answer is part of the tests


class Sink:
    """What every HTTP sink shares: it owns a LoopbackServer and runs while the `with` block does."""

    server: LoopbackServer

    def __enter__(self) -> Self:
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    @property
    def requests(self) -> list[Request]:
        return self.server.requests


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        reply = self.server.answer(request)
        if reply.hold is not None:
            reply.hold.wait()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            self.connection.close()
            return
        data, content_type = reply.encoded()
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:
        pass


class Throttle:
    """A token bucket: `per_second` calls a second, bursts of up to one second's worth."""

    def __init__(self, per_second: float | None):
        self.per_second = per_second
        self.capacity = max(1.0, per_second or 1.0)
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()
        self.throttled = 0

    def take(self) -> int | None:
        """None when the call may pass, else the whole seconds to wait (a Retry-After)."""
        if self.per_second is None:
            return None
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            self.throttled += 1
            return max(1, math.ceil((1.0 - self._tokens) / self.per_second))
