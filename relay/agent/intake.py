"""Posting one report to the relay's POST /api/scheduled-events, with the function key as x-functions-key.

The URL may carry the key as ?code= instead; neither the key nor the query ever reaches a log line."""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from relay.agent.bounded import Unreadable, read_json
from relay.agent.wire import encode

TIMEOUT_SECONDS = 10.0
PROBLEM_BYTES = 64 * 1024  # the relay's problem details are a few KB; past this, the status alone is logged


class Sent:
    """What the relay answered: kept (2xx), refused for good (the report can never be relayed: 400, 413),
    or not now (anything else, or no answer): send it again later."""

    def __init__(self, status: int | None, detail: str):
        self.status, self.detail = status, detail

    @property
    def kept(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status in (400, 413)


class Intake:
    def __init__(self, url: str, key: str | None = None, timeout: float = TIMEOUT_SECONDS):
        self.url, self.key, self.timeout = url, key, timeout
        parts = urllib.parse.urlsplit(url)
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # for logs: no query, so no ?code=

    def post(self, body: dict) -> Sent:
        request = urllib.request.Request(self.url, data=encode(body), method="POST",
                                         headers={"Content-Type": "application/json"})
        if self.key:
            request.add_header("x-functions-key", self.key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Sent(response.status, "kept")
        except urllib.error.HTTPError as e:
            return Sent(e.code, _problem(e))
        except (urllib.error.URLError, OSError) as e:
            return Sent(None, f"no answer: {getattr(e, 'reason', e)}")


def _problem(error: urllib.error.HTTPError) -> str:
    """The relay's problem details in one line (title and each error's path), or the status alone."""
    try:
        problem = read_json(error, PROBLEM_BYTES)
    except Unreadable:
        return f"HTTP {error.code}"
    if not isinstance(problem, dict):
        return f"HTTP {error.code}"
    errors = problem.get("errors")
    if not isinstance(errors, list):
        errors = []
    paths = "; ".join(f"{e.get('path')}: {e.get('detail')}" for e in errors[:5] if isinstance(e, dict))
    return f"HTTP {error.code} {problem.get('title') or ''}".strip() + (f" ({paths})" if paths else "")
