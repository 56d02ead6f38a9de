"""Intake of one webhook call, the same for the Function and for `relay serve`.

Answers what Action Groups understand: 202 when the alert is safely kept, 400 (with every problem
and its JSON path, RFC 9457 problem details) when it never will be relayable, 413 when too large,
and 503 when we could not keep it, which Action Groups retry. Never a silent 200. When Entra ID
tokens are required (relay.auth), `authenticate` answers 401/403 before the body is even read.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from relay.alerts import MAX_BYTES, PayloadError, parse_alert
from relay.inbox.storage import StorageQueueInbox, fits
from relay.model import Event, EventKind
from relay.runtime import telemetry

if TYPE_CHECKING:
    from relay.auth.entra import EntraCheck, Verdict

log = logging.getLogger("relay.ingest")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return PROBLEM_JSON if self.status >= 400 else "application/json"

    def encoded(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def problem(status: int, title: str, detail: str, **extra) -> Reply:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"Retry-After": "30"} if status == 503 else {}
    return Reply(status, body, headers)


def too_large(size: int) -> Reply:
    return problem(413, "Payload too large", f"The body is {size} bytes; alerts of up to {MAX_BYTES} bytes are accepted.")


ALERTS, SCHEDULED_EVENTS = "/api/alerts", "/api/scheduled-events"


def authenticate(entra: Callable[[], EntraCheck | None], authorization: str | None,
                 endpoint: str = ALERTS) -> Reply | None:
    """None when the call may go on: no token is required, or it carries a good one. Else the answer,
    to send without reading the body: 401/403, or 503 when the settings are half set or wrong, or the tenant's
    keys cannot be fetched (the sender retries). One log line says why, never with the token."""
    from relay.auth import SettingsError

    if endpoint != ALERTS:  # the check admits the Action Groups app only; the VMs' agents send the function key
        return None
    try:
        check = entra()
    except SettingsError as e:
        log.error("alert refused: the Entra ID settings cannot be used: %s", e)
        return problem(503, "Intake misconfigured", f"The Entra ID settings cannot be used: {e}.")
    if check is None:
        return None
    verdict = check.check(authorization)
    if verdict.ok:
        return None
    log.warning("alert refused (%d): %s", verdict.status, verdict.reason)
    return token_refusal(verdict, "Entra ID")


def token_refusal(verdict: Verdict, whose: str) -> Reply:
    """The answer to a refused bearer token (`whose`: Entra ID, Bot Framework): 503 to send again, else 401 or 403
    with the RFC 6750 WWW-Authenticate."""
    if verdict.status == 503:
        return problem(503, "Temporarily unable to check the caller", f"{verdict.reason}; send it again.")
    reply = problem(verdict.status, "Unauthorized" if verdict.status == 401 else "Forbidden",
                    f"{whose} token refused: {verdict.reason}.")
    reply.headers["WWW-Authenticate"] = f'Bearer error="{verdict.error}"' if verdict.error else "Bearer"
    return reply


def _describe(error: Exception) -> str:
    """Our own setup errors say what to fix; anything else is named by type only, since its text may
    carry a connection string or webhook URL."""
    from relay.channels import ChannelUnavailable
    from relay.config import ConfigError
    from relay.enrich.inventory import InventoryError

    if isinstance(error, (ConfigError, InventoryError, ChannelUnavailable)):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


def endpoint_for(event: Event) -> str:
    return SCHEDULED_EVENTS if event.kind is EventKind.SCHEDULED else ALERTS


def ingest(body: bytes, keep: Keep, endpoint: str = ALERTS) -> Reply:
    """Check the body, hand it to `keep` (inbox or inline processing), and say how it went. Each endpoint
    takes its own kind of body only: a VM's agent key cannot post Service Health alerts, nor the reverse."""
    if len(body) > MAX_BYTES:
        return too_large(len(body))
    try:
        event = parse_alert(body)
    except PayloadError as e:
        if e.too_large:
            return too_large(len(body))
        errors = [{"path": p.path, "detail": p.message} for p in e.problems]
        return problem(400, "Invalid alert payload", f"{len(errors)} problem(s) in the alert body.", errors=errors)
    if endpoint_for(event) != endpoint:
        return problem(400, "Wrong endpoint", f"This body is posted to {endpoint_for(event)}, not {endpoint}.")
    try:
        item_id = keep(body, event)
    except Exception as e:
        log.error("could not keep alert %s: %s", event.dedup_key, _describe(e))
        return problem(503, "Temporarily unable to accept alerts", "The alert was not kept; send it again.")
    log.info("accepted %s (%s %s) as %s", event.dedup_key, event.kind.value, event.stage or "", item_id)
    telemetry.count("received", kind=event.kind.value)
    return Reply(202, {
        "id": item_id,
        "kind": event.kind.value,
        "trackingId": event.tracking_id,
        "stage": event.stage,
        "warnings": list(event.warnings),
    })


Keep = Callable[[bytes, Event], str]  # keeps an accepted alert (inbox, or relayed at once); returns its id


def keep_in_queue(inbox: StorageQueueInbox, inline: Callable[[], Keep]) -> Keep:
    """Put the alert on the Storage Queue. One too large for a queue message is relayed at once instead, by
    the keep `inline` makes (as without a queue), rather than refused and lost."""

    def keep(body: bytes, event: Event) -> str:
        if fits(body):
            return inbox.put(body)
        log.warning("alert %s (%d bytes) is too large for a queue message; relaying it now", event.dedup_key, len(body))
        return inline()(body, event)

    return keep
