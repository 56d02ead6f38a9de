"""A loopback Teams Workflows trigger ("When a Teams webhook request is received") for integration tests
and the delivery benchmark.

    with TeamsSink(tls=ca, per_second=4) as sink:        # 429 + Retry-After above 4 requests a second
        ... POST the envelope to sink.url ...
        sink.cards                                       # the Adaptive Cards it accepted
        sink.throttled                                   # how many 429s it answered

It answers like the real trigger: 202 with an empty body once the envelope is valid; 400 for a body
that is not a Workflows envelope, 415 for a wrong Content-Type, 401 for a wrong signature or a missing
bearer token (when built with `token=`), 404 for another path, 429 above the rate.
"""
from __future__ import annotations

import secrets
import threading

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA, Throttle

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers or {})


def envelope_problem(data: object) -> str | None:
    """What makes `data` not a Workflows envelope of Adaptive Cards, or None."""
    if not isinstance(data, dict) or data.get("type") != "message":
        return "type must be 'message'"
    attachments = data.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments must be a non-empty list"
    for item in attachments:
        if not isinstance(item, dict) or item.get("contentType") != ADAPTIVE:
            return f"each attachment's contentType must be {ADAPTIVE}"
        card = item.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or not isinstance(card.get("body"), list):
            return "each attachment's content must be an AdaptiveCard with a body"
    return None


class TeamsSink(Sink):
    def __init__(self, *, tls: TestCA | None = None, token: str | None = None, per_second: float | None = None):
        self.token = token
        self.workflow = secrets.token_hex(16)
        self.sig = secrets.token_urlsafe(24)
        self.path = f"/workflows/{self.workflow}/triggers/manual/paths/invoke"
        self.server = LoopbackServer(self._route, tls)
        self.url = (f"{self.server.url}{self.path}?api-version=2016-06-01"
                    f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}")
        self.envelopes: list[dict] = []
        self._throttle = Throttle(per_second)
        self._lock = threading.Lock()

    @property
    def cards(self) -> list[dict]:
        """The Adaptive Cards accepted, in order."""
        return [a["content"] for envelope in self.envelopes for a in envelope["attachments"]]

    @property
    def throttled(self) -> int:
        return self._throttle.throttled

    def fail_next(self, *args, **kwargs) -> None:
        self.server.fail_next(*args, **kwargs)

    def _route(self, request: Request) -> Reply:
        if request.path != self.path:
            return _error(404, "WorkflowNotFound", "The workflow was not found.")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "The trigger only supports POST.")
        if request.query.get("sig") != [self.sig]:
            return _error(401, "DirectApiInvalidAuthorizationSignature", "The signature does not match.")
        authorization = request.headers.get("authorization")
        if self.token is not None and authorization != f"Bearer {self.token}":
            return _error(401, "DirectApiAuthorizationRequired", "A bearer token for the tenant is required.")
        if self.token is None and authorization is not None:
            return _error(401, "DirectApiAuthorizationNotAllowed", "This trigger takes no authorization header.")
        wait = self._throttle.take()
        if wait is not None:
            return _error(429, "TooManyRequests", "Rate limit is exceeded.", {"Retry-After": str(wait)})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(415, "UnsupportedMediaType", "The content type must be application/json.")
        try:
            data = request.json()
        except ValueError:
            return _error(400, "InvalidRequestContent", "The body is not JSON.")
        problem = envelope_problem(data)
        if problem:
            return _error(400, "InvalidRequestContent", problem)
        with self._lock:
            self.envelopes.append(data)
        return Reply(202, b"")
