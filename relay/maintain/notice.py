"""Telling the team what `relay maintain start` did: a notice when it starts, another with the outcome.

Each notice is an event of the relay's own, sent through the pipeline to the config's receivers, so it
is recorded once in the ledger and its thread is the maintenance's trackingId: a Slack bot replies
under the event's first message. Receivers whose kinds leave out `relay` do not get them.
"""
from __future__ import annotations

import base64
import getpass
import json
from dataclasses import dataclass
from datetime import datetime

from ..model import Event, EventKind, Vm
from ..render.markup import macros, plain
from .execute import Outcome, Result
from .plan import Skipped

LIST_LIMIT = 20  # VMs named a list; the rest are counted


@dataclass(frozen=True)
class Run:
    id: str
    by: str
    tracking_id: str | None
    vms: tuple[Vm, ...]  # started
    waves: int
    max_parallel: int


def started(run: Run, at: datetime) -> Event:
    wording = macros("text", "common/maintain.j2")
    names, more = _few([vm.name for vm in run.vms])
    body = wording.started_body(len(run.vms), run.by, run.tracking_id, names, more, run.waves, run.max_parallel, at)
    return _event(run, "started", plain(wording.started_title(len(run.vms))), plain(body), at)


def finished(run: Run, results: list[Result], skipped: list[Skipped], at: datetime) -> Event:
    wording = macros("text", "common/maintain.j2")
    completed, completed_more = _few([r.vm.name for r in results if r.outcome is Outcome.COMPLETED])
    failed, failed_more = _few([(r.vm.name, r.message) for r in results if r.outcome is not Outcome.COMPLETED])
    passed, passed_more = _few([(s.vm.name, s.reason.value) for s in skipped])
    title = wording.finished_title(len(completed) + completed_more, len(failed) + failed_more)
    body = wording.finished_body(run.by, run.tracking_id, completed, completed_more, failed, failed_more,
                                 passed, passed_more, at)
    return _event(run, "finished", plain(title), plain(body), at)


def interrupted(run: Run, at: datetime) -> Event:
    """The run was stopped (Ctrl-C) while operations it started may still be going on in Azure."""
    wording = macros("text", "common/maintain.j2")
    names, more = _few([vm.name for vm in run.vms])
    body = wording.interrupted_body(run.by, run.tracking_id, names, more, at)
    return _event(run, "interrupted", plain(wording.interrupted_title(len(run.vms))), plain(body), at)


def _event(run: Run, phase: str, title: str, body: str, at: datetime) -> Event:
    return Event(
        kind=EventKind.RELAY,
        schema="relay",
        title=title,
        communication=body,
        tracking_id=run.tracking_id,
        event_data_id=f"maintain-{run.id}-{phase}",
        status=f"self-service-{phase}",  # names the outbox file: the two notices of a run share a time
        subscription_ids=tuple(sorted({vm.subscription_id.lower() for vm in run.vms})),
        regions=tuple(sorted({vm.location for vm in run.vms if vm.location})),
        event_time=at,
    )


def _few(items: list) -> tuple[list, int]:
    return items[:LIST_LIMIT], max(0, len(items) - LIST_LIMIT)


def operator(token: str | None) -> str:
    """Who is starting it: the signed-in user or application from the access token's claims when it
    has them, else the OS user."""
    claims = _claims(token) if token else {}
    for claim in ("upn", "unique_name", "preferred_username", "email"):
        if claims.get(claim):
            return str(claims[claim])
    if claims.get("appid"):
        return f"application {claims['appid']}"
    return getpass.getuser()


def _claims(token: str) -> dict:
    """The payload of a JWT, unverified: only to name the caller, never to trust it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
