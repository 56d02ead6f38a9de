"""Azure Communication Services Email on a loopback HTTPS server, for the real azure-communication-email client.

    with AcsSink(ca) as acs:
        environ = {"ACS_CONNECTION": acs.connection_string}
        acs.finish_as("Failed", code="EmailDroppedAllRecipientsSuppressed")   # how the next operations end
        acs.fail_status_checks(503)                                        # the next GET of an operation
        acs.sent                                                           # the JSON requests accepted

    POST /emails:send?api-version=…          → 202, Operation-Location, {"id", "status": "Running"}
    GET  /emails/operations/{id}?api-version → {"id", "status": "Succeeded" | …}

Every request must carry the client's HMAC-SHA256 signature made with the access key (as ACS checks
it); a bad one gets 401.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA


@dataclass
class Operation:
    id: str
    request: dict
    polls: int = 0
    final: dict = field(default_factory=lambda: {"status": "Succeeded"})
    running_polls: int = 0  # how many status checks answer "Running" first


class AcsSink(Sink):
    def __init__(self, tls: TestCA, access_key: str | None = None):
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.server = LoopbackServer(self._route, tls=tls)
        self.url = self.server.url
        self.operations: dict[str, Operation] = {}
        self.sent: list[dict] = []  # accepted send requests, in order
        self.bad_signatures = 0
        self._final = {"status": "Succeeded"}
        self._running_polls = 0
        self._poll_faults: list[int] = []
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

    def fail_status_checks(self, status: int = 503, times: int = 1) -> None:
        """The next status checks (GET of an operation) answer `status`."""
        self._poll_faults.extend([status] * times)

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
        body = request.json()
        missing = [key for key in ("senderAddress", "recipients", "content") if key not in body]
        if missing:
            return Reply(400, {"error": {"code": "InvalidRequest", "message": f"missing {missing}"}})
        operation_id = request.headers.get("operation-id") or str(uuid.uuid4())
        with self._lock:
            self.operations[operation_id] = Operation(operation_id, body, final=dict(self._final),
                                                      running_polls=self._running_polls)
            self.sent.append(body)
        version = request.query.get("api-version", [""])[0]
        return Reply(202, {"id": operation_id, "status": "Running", "error": None},
                     {"Operation-Location": f"{self.url}/emails/operations/{operation_id}?api-version={version}",
                      "operation-id": operation_id})

    def _status(self, operation_id: str) -> Reply:
        if self._poll_faults:
            return Reply(self._poll_faults.pop(0), {"error": {"code": "ServiceUnavailable", "message": "injected"}})
        with self._lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return Reply(404, {"error": {"code": "NotFound", "message": "no such operation"}})
            operation.polls += 1
            running = operation.polls <= operation.running_polls
        return Reply(200, {"id": operation_id, **({"status": "Running"} if running else operation.final)})
