"""Azure Communication Services Email on a loopback HTTPS server, for the real azure-communication-email client.

    with AcsSink(ca) as acs:
        environ = {"ACS_CONNECTION": acs.connection_string}
        acs.finish_as("Failed", code="EmailDroppedAllRecipientsSuppressed")   # how the next operations end
        acs.fail_status_checks(503)                                        # the next GET of an operation
        acs.fail_status_checks(429, retry_after=7)                         # ... with a Retry-After
        acs.lose_next_answer()          # the next send is accepted, then the connection drops unanswered
        held = acs.hold_next_send(gate) # the next send stays in progress until `gate` is set; `held` is set
                                        # once it is in progress
        acs.repeat_window_seconds = 1   # how long a repeatable request is tracked (ACS: 5 minutes)
        acs.clock = lambda: later       # the sink's time, which Repeatability-First-Sent is checked against
        acs.sent                        # the JSON requests accepted: one a distinct email
        acs.repeats                     # the repeats answered as their original was, not executed again

    POST /emails:send?api-version=…          → 202, Operation-Location, {"id", "status": "Running"}
    GET  /emails/operations/{id}?api-version → {"id", "status": "Succeeded" | …} | 404 for an unknown id

Every request must carry the client's HMAC-SHA256 signature made with the access key (as ACS checks
it); a bad one gets 401. A send's Operation-Id (a GUID) names its operation; without one the sink makes one up.

Repeatable requests (learn.microsoft.com/en-us/rest/api/communication/repeatable-requests): a send with
Repeatability-Request-Id (a GUID) and Repeatability-First-Sent (IMF-fixdate, UTC) is tracked for
`repeat_window_seconds` from its first-sent time. One header without the other, or either malformed: 400. A first-sent
time older than the window: 412. A repeat of a tracked id: 409 while the original is still in progress, then the
original's answer again, unless the request differs from the original (body, first-sent or Operation-Id): 400.
(ACS executes the repeat of an original that got a 5xx again; here a 5xx only comes from `server.fail_next`, before
the request is tracked, so its repeat is executed as a first try.)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA


@dataclass
class Operation:
    id: str
    request: dict
    polls: int = 0
    final: dict = field(default_factory=lambda: {"status": "Succeeded"})
    running_polls: int = 0  # how many status checks answer "Running" first


@dataclass
class Repeatable:
    """A tracked repeatable request: what it asked, and its answer once it has one (None: still in progress)."""

    first_sent: datetime
    body: bytes
    operation_id: str | None
    reply: Reply | None = None


GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
IMF_FIXDATE = "%a, %d %b %Y %H:%M:%S GMT"


def _bad_request(message: str) -> Reply:
    return Reply(400, {"error": {"code": "BadRequest", "message": message}})


def _first_sent(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, IMF_FIXDATE).replace(tzinfo=UTC)
    except ValueError:
        return None


class AcsSink(Sink):
    def __init__(self, tls: TestCA, access_key: str | None = None):
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.server = LoopbackServer(self._route, tls=tls)
        self.url = self.server.url
        self.operations: dict[str, Operation] = {}
        self.sent: list[dict] = []  # accepted send requests, in order: each one an email
        self.repeats: list[Request] = []  # repeats answered from their original's record
        self.bad_signatures = 0
        self.repeat_window_seconds = 300.0
        # retry-after-ms on the send's 202, which azure-core's poller reads before its own interval: a long run's
        # shortcut (ACS's Retry-After is whole seconds)
        self.poll_after_ms: int | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._tracked: dict[str, Repeatable] = {}
        self._final = {"status": "Succeeded"}
        self._running_polls = 0
        self._poll_faults: list[Reply] = []
        self._lose_answers = 0
        self._holds: list[tuple[threading.Event, threading.Event]] = []
        self._lock = threading.Lock()

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.url}/;accesskey={self.access_key}"

    def finish_as(self, status: str = "Succeeded", *, code: str | None = None, running_polls: int = 0) -> None:
        """How operations started from now on end, after `running_polls` status checks that say Running."""
        self._final = {"status": status}
        if code:
            self._final["error"] = {"code": code, "message": f"{code}: injected by the test"}
        self._running_polls = running_polls

    def fail_status_checks(self, status: int = 503, times: int = 1, retry_after: float | None = None) -> None:
        """The next status checks (GET of an operation) answer `status`, with `retry_after` if given."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = {"error": {"code": "TooManyRequests" if status == 429 else "ServiceUnavailable", "message": "injected"}}
        self._poll_faults.extend(Reply(status, body, headers) for _ in range(times))

    def lose_next_answer(self, times: int = 1) -> None:
        """The next sends are accepted (and tracked), then the connection drops without their answer."""
        with self._lock:
            self._lose_answers += times

    def hold_next_send(self, gate: threading.Event) -> threading.Event:
        """The next repeatable send stays in progress (a repeat of it gets 409) until `gate` is set; then it is
        executed. The event returned is set once that send is in progress."""
        held = threading.Event()
        with self._lock:
            self._holds.append((gate, held))
        return held

    def _route(self, request: Request) -> Reply:
        if not self._signed(request):
            self.bad_signatures += 1
            return Reply(401, {"error": {"code": "Denied", "message": "Denied by the resource provider."}})
        if request.method == "POST" and request.path == "/emails:send":
            return self._send(request)
        if request.method == "GET" and request.path.startswith("/emails/operations/"):
            return self._status(request.path.rsplit("/", 1)[1])
        return Reply(404, {"error": {"code": "NotFound", "message": request.path}})

    def _signed(self, request: Request) -> bool:
        """The HMAC-SHA256 scheme of azure-communication-*: verb, path+query, date, host, body hash."""
        body_hash = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
        if request.headers.get("x-ms-content-sha256") != body_hash:
            return False
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        path = request.path + (f"?{query}" if query else "")
        host = self.url.split("://", 1)[1]
        to_sign = f"{request.method}\n{path}\n{request.headers.get('x-ms-date', '')};{host};{body_hash}"
        digest = hmac.new(base64.b64decode(self.access_key), to_sign.encode(), hashlib.sha256).digest()
        expected = f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={base64.b64encode(digest).decode()}"
        return hmac.compare_digest(request.headers.get("authorization", ""), expected)

    def _send(self, request: Request) -> Reply:
        request_id = request.headers.get("repeatability-request-id")
        first_sent_header = request.headers.get("repeatability-first-sent")
        operation_id = request.headers.get("operation-id")
        if operation_id is not None and not GUID.fullmatch(operation_id):
            return _bad_request("Operation-Id must be a GUID")
        if request_id is None and first_sent_header is None:
            return self._lost(self._execute(request, operation_id))
        first_sent = _first_sent(first_sent_header or "")
        if request_id is None or not GUID.fullmatch(request_id) or first_sent is None:
            return _bad_request("Repeatability-Request-Id must be a GUID and Repeatability-First-Sent an IMF-fixdate")
        now = self.clock()
        if first_sent < now - timedelta(seconds=self.repeat_window_seconds):
            return Reply(412, {"error": {"code": "PreconditionFailed",
                                         "message": "Repeatability-First-Sent is outside the tracked window"}})
        with self._lock:
            original = self._tracked.get(request_id.lower())
            if original is not None and original.first_sent >= now - timedelta(seconds=self.repeat_window_seconds):
                if (original.first_sent, original.body, original.operation_id) != (first_sent, request.body,
                                                                                    operation_id):
                    return _bad_request("the repeated request does not match the original")
                self.repeats.append(request)
                if original.reply is None:
                    return Reply(409, {"error": {"code": "Conflict", "message": "the original is still in progress"}})
                return original.reply
            tracked = self._tracked[request_id.lower()] = Repeatable(first_sent, request.body, operation_id)
            hold = self._holds.pop(0) if self._holds else None
        if hold is not None:
            gate, held = hold
            held.set()
            gate.wait(30)
        reply = tracked.reply = self._execute(request, operation_id)
        return self._lost(reply)

    def _execute(self, request: Request, operation_id: str | None) -> Reply:
        body = request.json()
        missing = [key for key in ("senderAddress", "recipients", "content") if key not in body]
        if missing:
            return Reply(400, {"error": {"code": "InvalidRequest", "message": f"missing {missing}"}})
        operation_id = operation_id or str(uuid.uuid4())
        with self._lock:
            if operation_id in self.operations:  # not documented; the sink will not start a second email on one id
                return Reply(409, {"error": {"code": "Conflict", "message": "the operation exists"}})
            self.operations[operation_id] = Operation(operation_id, body, final=dict(self._final),
                                                      running_polls=self._running_polls)
            self.sent.append(body)
        version = request.query.get("api-version", [""])[0]
        return Reply(202, {"id": operation_id, "status": "Running", "error": None},
                     {"Operation-Location": f"{self.url}/emails/operations/{operation_id}?api-version={version}",
                      "operation-id": operation_id,
                      **({"retry-after-ms": str(self.poll_after_ms)} if self.poll_after_ms is not None else {})})

    def _lost(self, reply: Reply) -> Reply:
        """The reply, or none at all (the connection drops) when the test asked for an answer to be lost."""
        with self._lock:
            if reply.status != 202 or not self._lose_answers:
                return reply
            self._lose_answers -= 1
        return Reply(reply.status, reply.body, reply.headers, drop=True)

    def _status(self, operation_id: str) -> Reply:
        if self._poll_faults:
            return self._poll_faults.pop(0)
        with self._lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return Reply(404, {"error": {"code": "NotFound", "message": "no such operation"}})
            operation.polls += 1
            running = operation.polls <= operation.running_polls
        return Reply(200, {"id": operation_id, **({"status": "Running"} if running else operation.final)})
