"""Telling the team what `relay maintain start` did: a notice when it starts, another with the outcome.

Each notice is an event of the relay's own, sent through the pipeline to the config's receivers, so it
is recorded once in the ledger and its thread is the maintenance's trackingId: a Slack bot replies
under the event's first message. Receivers whose kinds leave out `relay` do not get them.
"""
from __future__ import annotations

import base64
import getpass
import json
from dataclasses import dataclass, replace
from datetime import datetime

from relay.maintain.execute import Outcome, Result
from relay.maintain.plan import Skipped
from relay.model import Event, SelfServiceRun, Vm
from relay.notices import notice_event


@dataclass(frozen=True)
class Run:
    id: str
    by: str
    tracking_id: str | None
    vms: tuple[Vm, ...]  # started
    waves: int
    max_parallel: int


def started(run: Run, at: datetime) -> Event:
    return _event(run, _notice(run, "started", at))


def finished(run: Run, results: list[Result], skipped: list[Skipped], at: datetime) -> Event:
    return _event(run, replace(
        _notice(run, "finished", at),
        completed=tuple(r.vm.name for r in results if r.outcome is Outcome.COMPLETED),
        failed=tuple((r.vm.name, r.message) for r in results if r.outcome is not Outcome.COMPLETED),
        skipped=tuple((s.vm.name, s.reason.value) for s in skipped),
    ))


def interrupted(run: Run, at: datetime) -> Event:
    """The run was stopped (Ctrl-C) while operations it started may still be going on in Azure."""
    return _event(run, _notice(run, "interrupted", at))


def _notice(run: Run, phase: str, at: datetime) -> SelfServiceRun:
    return SelfServiceRun(phase=phase, by=run.by, tracking_id=run.tracking_id, at=at,
                          started=tuple(vm.name for vm in run.vms), waves=run.waves, max_parallel=run.max_parallel)


def _event(run: Run, notice: SelfServiceRun) -> Event:
    return notice_event(
        notice, f"maintain-{run.id}-{notice.phase}", notice.at,
        tracking_id=run.tracking_id,  # the maintenance's thread
        status=f"self-service-{notice.phase}",  # names the outbox file: the two notices of a run share a time
        subscription_ids=tuple(sorted({vm.subscription_id.lower() for vm in run.vms})),
        regions=tuple(sorted({vm.location for vm in run.vms if vm.location})),
    )


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
